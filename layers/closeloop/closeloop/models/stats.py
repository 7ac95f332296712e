"""Stats: aggregate counters per scope, kept by stream consumers so that reports never scan."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from closeloop.models.base import BaseModel, TableName


class Stat(BaseModel):
    """One counter: `n` items, their summed weights and squared weights (weighted margin of error).

    scope: "all", "wave#<id>", "segment#<s>", "language#<fr|en>", "month#<yyyy-mm>".
    metric: e.g. "responses#detractor#confirmed", "invitations#delivered". Items whose metric starts
    with "applied#" are the markers that make a stream record count once; they expire.
    """

    class Meta:
        table_name = TableName("stats_table")

    scope = UnicodeAttribute(hash_key=True)
    metric = UnicodeAttribute(range_key=True)
    n = NumberAttribute(default=0)
    sum_w = NumberAttribute(default=0)
    sum_w2 = NumberAttribute(default=0)
    expires_at = TTLAttribute(null=True)
