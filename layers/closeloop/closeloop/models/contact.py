"""Contacts (the B2B customers surveyed) and the unique lookup of a contact by email."""

from __future__ import annotations

from pynamodb.attributes import (
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from closeloop.models.base import BaseModel, TableName


class BySegment(GlobalSecondaryIndex["Contact"]):
    class Meta:
        index_name = "by_segment"
        projection = KeysOnlyProjection()

    segment = UnicodeAttribute(hash_key=True)
    contact_id = UnicodeAttribute(range_key=True)


class ByOwner(GlobalSecondaryIndex["Contact"]):
    class Meta:
        index_name = "by_owner"
        projection = KeysOnlyProjection()

    account_owner = UnicodeAttribute(hash_key=True)
    contact_id = UnicodeAttribute(range_key=True)


class ByCompany(GlobalSecondaryIndex["Contact"]):
    class Meta:
        index_name = "by_company"
        projection = KeysOnlyProjection()

    company_key = UnicodeAttribute(hash_key=True)
    contact_id = UnicodeAttribute(range_key=True)


class ByName(GlobalSecondaryIndex["Contact"]):
    """Search by name: the first 2 characters of the folded name, then the folded name and the id."""

    class Meta:
        index_name = "by_name"
        projection = KeysOnlyProjection()

    name_prefix = UnicodeAttribute(hash_key=True)
    name_sort = UnicodeAttribute(range_key=True)


class Contact(BaseModel):
    """A customer contact. Personal attributes are erased on request; the id and segment stay."""

    class Meta:
        table_name = TableName("contacts_table")

    contact_id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute(null=True)
    email_hash = UnicodeAttribute(null=True)
    first_name = UnicodeAttribute(null=True)
    last_name = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    company = UnicodeAttribute(null=True)
    company_key = UnicodeAttribute(null=True)
    name_prefix = UnicodeAttribute(null=True)  # by_name (closeloop.rules.contact_fields.name_keys)
    name_sort = UnicodeAttribute(null=True)
    segment = UnicodeAttribute(default="general")
    language = UnicodeAttribute(default="fr")
    account_owner = UnicodeAttribute(null=True)
    weight = NumberAttribute(default=1)
    # R2 ledger (docs/data-model.md 4.1): "<at>#<wave_id>", newest first, with its own version so
    # that a contact edit and a wave's claim never make each other fail.
    survey_dates = ListAttribute(of=UnicodeAttribute, default=list)
    survey_version = NumberAttribute(default=0)
    last_activity_at = UTCDateTimeAttribute(null=True)
    last_auto_reply_at = UTCDateTimeAttribute(null=True)
    import_id = UnicodeAttribute(null=True)
    import_line = NumberAttribute(null=True)
    erased_at = UTCDateTimeAttribute(null=True)
    erasure_id = UnicodeAttribute(null=True)
    version = VersionAttribute()

    by_segment = BySegment()
    by_owner = ByOwner()
    by_company = ByCompany()
    by_name = ByName()


class ContactEmail(BaseModel):
    """The unique lookup item: HMAC of the normalised email -> contact_id (no email in any key)."""

    class Meta:
        table_name = TableName("contact_emails_table")

    email_hash = UnicodeAttribute(hash_key=True)
    contact_id = UnicodeAttribute()
