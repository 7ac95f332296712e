"""The staff directory: who is signed in, and adding staff (CSV import and Cognito sync come later)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from closeloop.errors import Forbidden, InvalidInput
from closeloop.identity import Identity
from closeloop.ids import new_id
from closeloop.models import GROUPS, Staff


@dataclass(frozen=True)
class StaffView:
    staff_id: str
    email: str
    name: str
    language: str
    department: str | None
    groups: list[str]
    capacity: int
    active: bool

    @classmethod
    def of(cls, staff: Staff, groups: frozenset[str]) -> StaffView:
        return cls(
            staff_id=staff.staff_id,
            email=staff.email,
            name=staff.name,
            language=staff.language,
            department=staff.department,
            groups=sorted(groups),
            capacity=int(staff.capacity),
            active=bool(staff.active),
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def whoami(identity: Identity) -> StaffView:
    """The directory's record of the signed-in person, with the groups their token carries."""
    staff = Staff.find_by_email(identity.email) if identity.email else None
    if staff is None:
        raise Forbidden("you are not in the staff directory")
    if not staff.active:
        raise Forbidden("your staff account is inactive")
    return StaffView.of(staff, identity.groups)


def add_staff(
    *,
    email: str,
    name: str,
    groups: set[str],
    language: str = "fr",
    department: str | None = None,
    phone: str | None = None,
    capacity: int = 20,
    staff_id: str | None = None,
) -> Staff:
    """Add a staff member to the directory, or update the one with this email."""
    email = email.strip().lower()
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise InvalidInput(f"unknown groups: {', '.join(sorted(unknown))}")
    if language not in {"fr", "en"}:
        raise InvalidInput("language must be fr or en")
    existing = Staff.find_by_email(email)
    staff = existing or Staff(staff_id or new_id(), email=email)
    staff.name = name
    staff.groups = set(groups)
    staff.language = language
    staff.department = department
    staff.phone = phone
    staff.capacity = capacity
    staff.active = True
    staff.save()
    return staff
