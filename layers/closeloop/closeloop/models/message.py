"""Messages (the mail of a survey's thread) and Quarantine (inbound mail not processed),
docs/data-model.md 4.13 and 4.14."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection

from closeloop.models.base import BaseModel, TableName

QUARANTINE_REASONS = ("spam", "virus", "no_token", "unknown_token", "expired_token", "unparseable", "too_large")


class ByAttention(GlobalSecondaryIndex["Message"]):
    """Messages a person must look at (sparse: `attention` is removed once handled)."""

    class Meta:
        index_name = "by_attention"
        projection = IncludeProjection(["kind"])

    attention = UnicodeAttribute(hash_key=True)
    at = UTCDateTimeAttribute(range_key=True)


class Message(BaseModel):
    """One mail of a thread: a customer's reply, auto-reply or unsubscribe request (in), or an
    email sent from a case (out). Personal attributes are erased with the contact."""

    class Meta:
        table_name = TableName("messages_table")

    thread_id = UnicodeAttribute(hash_key=True)  # the invitation id (= case id) of the survey
    message_key = UnicodeAttribute(range_key=True)  # "<at>#<message_id>"
    direction = UnicodeAttribute()  # in, out
    kind = UnicodeAttribute()  # in: reply, auto_reply, unsubscribe_request
    at = UTCDateTimeAttribute()  # in: the SES receipt time
    message_id = UnicodeAttribute()  # in: the SES message id
    s3_key = UnicodeAttribute(null=True)  # personal: the raw mail
    subject = UnicodeAttribute(null=True)  # personal: 200 characters at most
    body = UnicodeAttribute(null=True)  # personal: in, the new text of the mail (64 KB at most)
    attachment_names = ListAttribute(of=UnicodeAttribute, null=True)  # personal: names only
    from_hash = UnicodeAttribute(null=True)  # personal: keyed hash of the From address
    from_contact = BooleanAttribute(null=True)  # the From address is the contact's
    flags = UnicodeSetAttribute(null=True)  # unsubscribe_mention, forwarded
    verdicts = MapAttribute[str, str](null=True)  # spam, virus, spf, dkim: PASS, FAIL, GRAY, ...
    attention = UnicodeAttribute(null=True)  # open while a person must look
    handled_by = UnicodeAttribute(null=True)
    handled_at = UTCDateTimeAttribute(null=True)
    # Outgoing mail (the callbacks issue): the ledger of docs/data-model.md 7.2.
    recipient = UnicodeAttribute(null=True)
    staff_id = UnicodeAttribute(null=True)
    state = UnicodeAttribute(null=True)
    skip_reason = UnicodeAttribute(
        null=True
    )  # state skipped: exchanged, reassigned, suppressed, no_staff, erased, render
    claimed_at = UTCDateTimeAttribute(null=True)
    sent_at = UTCDateTimeAttribute(null=True)
    ses_message_id = UnicodeAttribute(null=True)
    reply_token_hash = UnicodeAttribute(null=True)
    template = UnicodeAttribute(null=True)
    language = UnicodeAttribute(null=True)

    by_attention = ByAttention()


class ByMonth(GlobalSecondaryIndex["Quarantine"]):
    """Quarantined mail of a month, in order of receipt."""

    class Meta:
        index_name = "by_month"
        projection = AllProjection()

    received_month = UnicodeAttribute(hash_key=True)
    received_at = UTCDateTimeAttribute(range_key=True)


class Quarantine(BaseModel):
    """Inbound mail that was not processed, and why; kept quarantine_keep_days (TTL and lifecycle)."""

    class Meta:
        table_name = TableName("quarantine_table")

    quarantine_id = UnicodeAttribute(hash_key=True)  # the SES message id: a retried event writes the same item
    reason = UnicodeAttribute()  # one of QUARANTINE_REASONS
    s3_key = UnicodeAttribute(null=True)  # personal: quarantine/<message id>
    received_at = UTCDateTimeAttribute()
    received_month = UnicodeAttribute()
    from_hash = UnicodeAttribute(null=True)  # personal
    sender = UnicodeAttribute(null=True)  # personal: the From address as SES read it, for managers
    subject = UnicodeAttribute(null=True)  # personal: 200 characters at most
    size = NumberAttribute(default=0)
    handled_by = UnicodeAttribute(null=True)
    handled_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)  # received + quarantine_keep_days; readers check it (TTL lags)

    by_month = ByMonth()
