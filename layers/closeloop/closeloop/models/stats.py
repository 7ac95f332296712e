"""Stats: aggregate counters per scope, kept by stream consumers so that reports never scan."""

from __future__ import annotations

from pynamodb.attributes import TTLAttribute, UnicodeAttribute

from closeloop.models.base import BaseModel, TableName


class Stat(BaseModel):
    """One counter item of a scope (docs/data-model.md 9).

    scope: "all", "wave#<id>", "segment#<s>", "language#<fr|en>", "month#<yyyy-mm>" and the
    combinations of 9.2; metric: "nps", "mail", "cases", "delay#first#h", ... Its numeric
    attributes (`n_det_c`, `w_pro_u`, `delivered`, ...) are named by the metric and only ever
    changed with ADD, so they are read and written through `counters` rather than declared here.
    Items whose scope starts with "applied#" are the markers that make a stream record count once.
    """

    class Meta:
        table_name = TableName("stats_table")

    scope = UnicodeAttribute(hash_key=True)
    metric = UnicodeAttribute(range_key=True)
    expires_at = TTLAttribute(null=True)
