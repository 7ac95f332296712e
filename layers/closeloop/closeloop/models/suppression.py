"""Suppressions: addresses the programme must never mail again, keyed by HMAC so they outlive erasure."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute

from closeloop.models.base import BaseModel, TableName

SUPPRESSION_REASONS = ("unsubscribe", "bounce", "complaint", "manual", "mail")


class Suppression(BaseModel):
    class Meta:
        table_name = TableName("suppressions_table")

    email_hash = UnicodeAttribute(hash_key=True)
    reason = UnicodeAttribute()
    source = UnicodeAttribute(null=True)  # e.g. "invitation:<id>", "ses:<message id>", "staff:<id>"
