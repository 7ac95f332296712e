"""Responses: one per invitation at most (response_id = invitation_id), and the clicks that may
become one (docs/data-model.md 4.11, 4.12)."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection

from closeloop.models.base import BaseModel, TableName

CATEGORIES = ("detractor", "passive", "promoter")


class ByCaptured(GlobalSecondaryIndex["Response"]):
    """Responses of a month, in capture order: digests and reports of a period."""

    class Meta:
        index_name = "by_captured"
        projection = IncludeProjection(
            ["score", "category", "confirmed", "has_comment", "wave_id", "segment", "language"]
        )

    captured_month = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class Response(BaseModel):
    """A customer's answer: the score, the category, an optional comment."""

    class Meta:
        table_name = TableName("responses_table")

    response_id = UnicodeAttribute(hash_key=True)  # = invitation_id
    contact_id = UnicodeAttribute()
    wave_id = UnicodeAttribute()
    # Copied from the invitation, never changed: the dimensions of every counter.
    segment = UnicodeAttribute(null=True)
    language = UnicodeAttribute(default="fr")
    month = UnicodeAttribute(null=True)
    weight = NumberAttribute(default=1)
    score = NumberAttribute()
    first_score = NumberAttribute(null=True)
    category = UnicodeAttribute()  # detractor (0-6), passive (7-8), promoter (9-10)
    confirmed = BooleanAttribute(default=True)  # False only for a promoted click not yet confirmed
    source = UnicodeAttribute(default="form")  # form, click (promotion), phone
    comment = UnicodeAttribute(null=True)  # personal: erased with the contact
    has_comment = BooleanAttribute(default=False)
    captured_month = UnicodeAttribute(null=True)
    confirmed_at = UTCDateTimeAttribute(null=True)
    edits = NumberAttribute(default=0)
    locked_at = UTCDateTimeAttribute(null=True)  # the first call attempt: customer edits end
    erased_at = UTCDateTimeAttribute(null=True)
    version = NumberAttribute(default=1)

    by_captured = ByCaptured()


class ByPromote(GlobalSecondaryIndex["Click"]):
    """Survey clicks waiting for their promotion decision (sparse: removed once decided)."""

    class Meta:
        index_name = "by_promote"
        projection = KeysOnlyProjection()

    promote_shard = UnicodeAttribute(hash_key=True)
    promote_at = UTCDateTimeAttribute(range_key=True)


class Click(BaseModel):
    """One GET or HEAD of a survey or trap link: logged, never a response by itself."""

    class Meta:
        table_name = TableName("clicks_table")

    invitation_id = UnicodeAttribute(hash_key=True)
    click_key = UnicodeAttribute(range_key=True)  # "<clicked_at ISO>#<click_id>"
    kind = UnicodeAttribute(default="survey")  # survey, trap
    score = NumberAttribute(null=True)
    method = UnicodeAttribute(default="GET")
    user_agent = UnicodeAttribute(null=True)  # personal: first 256 characters
    ua_class = UnicodeAttribute(null=True)  # browser, scanner, none
    source_hash = UnicodeAttribute(null=True)  # keyed hash of the source address
    since_delivery_s = NumberAttribute(null=True)
    since_send_s = NumberAttribute(null=True)
    signals = UnicodeSetAttribute(null=True)  # head, trap, scanner_agent, early
    promote_shard = UnicodeAttribute(null=True)
    promote_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute(null=True)

    by_promote = ByPromote()
