"""Suppressions: addresses the programme must never mail again, keyed by HMAC so they outlive erasure."""

from __future__ import annotations

from pynamodb.attributes import UnicodeAttribute

from closeloop.models.base import BaseModel, TableName

SUPPRESSION_REASONS = ("unsubscribe", "bounce", "complaint", "manual", "mail")


class Suppression(BaseModel):
    class Meta:
        table_name = TableName("suppressions_table")

    email_hash = UnicodeAttribute(hash_key=True)
    reason = UnicodeAttribute()  # one of SUPPRESSION_REASONS; the first reason stays
    source = UnicodeAttribute(null=True)  # link, one_click, mailto, reply, ses, api, erasure
    invitation_id = UnicodeAttribute(null=True)  # where it came from: lets a page undo its own click
    by = UnicodeAttribute(null=True)  # staff_id, for a manual suppression
