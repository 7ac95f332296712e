"""SendBatches: the ledger of one batch of survey emails (docs/dispatch.md "Sending at most once").

The planner gives every batch of at most 10 invitations of one step a `batch_id`. The sender
claims each attempt of the batch on this item with one conditional write before any SES call,
and records what became of each invitation here; the table's stream carries the outcomes onto
the invitations and the wave (`dispatch_ledger`).
"""

from __future__ import annotations

from pynamodb.attributes import ListAttribute, MapAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute

from closeloop.models.base import BaseModel, TableName

FINAL_OUTCOMES = frozenset({"sent", "failed", "skipped", "uncertain"})
"""Outcomes after which an invitation's step never sends again."""

RECORDED_OUTCOMES = FINAL_OUTCOMES | {"deferred"}
"""Outcomes a sender records; an invitation of a claimed attempt with none of them may have been sent."""


class SendBatch(BaseModel):
    class Meta:
        table_name = TableName("send_batches_table")

    batch_id = UnicodeAttribute(hash_key=True)
    wave_id = UnicodeAttribute()
    step = UnicodeAttribute()  # first, reminder
    invitation_ids = ListAttribute(of=UnicodeAttribute, default=list)
    attempt = NumberAttribute(default=0)  # the latest attempt claimed
    claim_id = UnicodeAttribute(null=True)  # who made that claim: a retried claim write knows itself
    claimed_at = UTCDateTimeAttribute(null=True)
    cancelled_at = UTCDateTimeAttribute(null=True)  # taken by a cancelled wave's release: never claimed
    # invitation_id -> {"state": sent|failed|skipped|uncertain|deferred, "attempt": n, "at": ISO time,
    # "message_id", "error", "skip_reason", "reply_token_hash", "email_hash", "first_name", "closes_at"}
    # (email_hash and first_name are copied onto the invitation "at send"; the eraser removes them.)
    outcomes = MapAttribute[str, object](default=dict)
