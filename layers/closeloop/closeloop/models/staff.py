"""The staff directory: every employee who may call customers back or run the programme."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from closeloop.models.base import BaseModel, TableName

GROUPS = ("caller", "manager", "admin")


class ByEmail(GlobalSecondaryIndex["Staff"]):
    class Meta:
        index_name = "by_email"
        projection = AllProjection()

    email = UnicodeAttribute(hash_key=True)


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
    open_cases = NumberAttribute(default=0)
    version = VersionAttribute()

    by_email = ByEmail()

    @classmethod
    def find_by_email(cls, email: str) -> Staff | None:
        """The staff member signing in with this email, if any (one query on by_email)."""
        for staff in cls.by_email.query(email.strip().lower(), limit=1):
            return staff
        return None
