"""The staff directory: every employee who may call customers back or run the programme."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection

from closeloop.models.base import BaseModel, TableName

GROUPS = ("caller", "manager", "admin")


class ByEmail(GlobalSecondaryIndex["Staff"]):
    class Meta:
        index_name = "by_email"
        projection = AllProjection()

    email = UnicodeAttribute(hash_key=True)


class ByPool(GlobalSecondaryIndex["Staff"]):
    """Active callers (sparse: `pool` = "caller" only while active and in the caller group), with
    what assignment needs to weigh their load."""

    class Meta:
        index_name = "by_pool"
        projection = IncludeProjection(["open_cases", "capacity", "email", "language", "department"])

    pool = UnicodeAttribute(hash_key=True)
    staff_id = UnicodeAttribute(range_key=True)


def pool_of(groups: set[str] | frozenset[str], active: bool) -> str | None:
    """The `pool` attribute a staff member with these groups and state carries."""
    return "caller" if active and "caller" in groups else None


class Staff(BaseModel):
    """A staff member; `email` is their sign-in name, lower-case."""

    class Meta:
        table_name = TableName("staff_table")

    staff_id = UnicodeAttribute(hash_key=True)
    email = UnicodeAttribute()
    name = UnicodeAttribute()
    phone = UnicodeAttribute(null=True)
    language = UnicodeAttribute(default="fr")
    department = UnicodeAttribute(null=True)
    groups = UnicodeSetAttribute(default=set)
    active = BooleanAttribute(default=True)
    capacity = NumberAttribute(default=20)
    open_cases = NumberAttribute(default=0)  # kept by `counters` from the Cases stream, never by the API
    pool = UnicodeAttribute(null=True)  # pool_of(groups, active): the sparse by_pool index
    cognito_sub = UnicodeAttribute(null=True)  # set by staff_sync
    digest_opt_out = BooleanAttribute(null=True)
    deactivated_at = UTCDateTimeAttribute(null=True)
    version = VersionAttribute()

    by_email = ByEmail()
    by_pool = ByPool()

    @classmethod
    def find_by_email(cls, email: str) -> Staff | None:
        """The staff member signing in with this email, if any (one query on by_email)."""
        for staff in cls.by_email.query(email.strip().lower(), limit=1):
            return staff
        return None
