"""Invitations: exactly one per contact per wave, with the ledger of what was sent."""

from __future__ import annotations

import base64
import hashlib

from pynamodb.attributes import MapAttribute, NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection

from closeloop.models.base import BaseModel, TableName


def invitation_id_for(wave_id: str, contact_id: str) -> str:
    """The one id an invitation of this contact in this wave can have (26 lower-case base32 chars)."""
    digest = hashlib.sha256(f"{wave_id}#{contact_id}".encode()).digest()[:16]
    return base64.b32encode(digest).decode().rstrip("=").lower()


class ByWave(GlobalSecondaryIndex["Invitation"]):
    class Meta:
        index_name = "by_wave"
        projection = IncludeProjection(["status", "responded_at", "reminded_at"])

    wave_id = UnicodeAttribute(hash_key=True)
    contact_id = UnicodeAttribute(range_key=True)


class ByContact(GlobalSecondaryIndex["Invitation"]):
    class Meta:
        index_name = "by_contact"
        projection = KeysOnlyProjection()

    contact_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class SendStep(MapAttribute[str, object]):
    """One email of an invitation (the first one, or the reminder) and where its sending stands."""

    state = UnicodeAttribute(default="reserved")  # reserved, sending, sent, uncertain, failed, deferred, skipped
    claimed_at = UTCDateTimeAttribute(null=True)
    at = UTCDateTimeAttribute(null=True)
    message_id = UnicodeAttribute(null=True)
    reply_token_hash = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    error = UnicodeAttribute(null=True)
    batch_id = UnicodeAttribute(null=True)  # the send batch it belongs to: set at reservation, never regrouped
    # What SES said of this email afterwards (ses_events): each written once, so a repeated event is a no-op.
    delivered_at = UTCDateTimeAttribute(null=True)
    bounce_type = UnicodeAttribute(null=True)  # Permanent, Transient, Undetermined
    complained_at = UTCDateTimeAttribute(null=True)
    ses_message_id = UnicodeAttribute(null=True)  # SES's id from its first event: SES accepted this email


class Invitation(BaseModel):
    class Meta:
        table_name = TableName("invitations_table")

    invitation_id = UnicodeAttribute(hash_key=True)
    wave_id = UnicodeAttribute()
    contact_id = UnicodeAttribute()
    status = UnicodeAttribute(default="reserved")
    skip_reason = UnicodeAttribute(null=True)
    survey_entry = UnicodeAttribute(null=True)  # the R2 ledger entry claimed, to release it
    # Fixed at reservation: the dimensions of every counter.
    segment = UnicodeAttribute(null=True)
    language = UnicodeAttribute(default="fr")
    weight = NumberAttribute(default=1)
    month = UnicodeAttribute(null=True)
    # Copied at send: what the survey page and the SES events need without another read.
    first_name = UnicodeAttribute(null=True)
    email_hash = UnicodeAttribute(null=True)
    closes_at = UTCDateTimeAttribute(null=True)
    first = SendStep(null=True)
    reminder = SendStep(null=True)
    delivered_at = UTCDateTimeAttribute(null=True)  # first delivery event, or first response
    bounced_at = UTCDateTimeAttribute(null=True)  # a permanent bounce (SES event)
    bounce_type = UnicodeAttribute(null=True)  # Permanent, Transient, Undetermined: the latest bounce
    complained_at = UTCDateTimeAttribute(null=True)  # first complaint (SES event)
    reminded_at = UTCDateTimeAttribute(null=True)
    responded_at = UTCDateTimeAttribute(null=True)
    unsubscribed_at = UTCDateTimeAttribute(null=True)
    unsubscribe_source = UnicodeAttribute(null=True)  # link, one_click, mailto, reply
    replied_at = UTCDateTimeAttribute(null=True)  # the first customer mail on the thread before any case
    reply_count = NumberAttribute(null=True)

    by_wave = ByWave()
    by_contact = ByContact()
