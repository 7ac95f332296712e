"""The staff directory: who is signed in; list, show, add, edit, deactivate staff; import a staff CSV.

The directory is the one source of staff identity (docs/callbacks.md "The staff directory"): every
write here lands on the Staff table, whose stream `staff_sync` pushes to the Cognito user pool.
Each write keeps `pool` (the sparse caller index assignment reads) and `deactivated_at` in step
with `groups` and `active`. Edits are version-checked (409 "reload"); `open_cases` belongs to the
counters and is never written here once the item exists, so no write uses `save()` on an existing
item.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError
from pynamodb.expressions.update import Action

from closeloop import clock
from closeloop.errors import Conflict, Forbidden, InvalidInput, NotFound
from closeloop.identity import Identity
from closeloop.ids import new_id
from closeloop.models import GROUPS, Staff
from closeloop.models.staff import pool_of
from closeloop.rules import staff_csv
from closeloop.rules.contact_fields import FieldProblem, Language
from closeloop.rules.contacts_csv import FileProblem

EDITABLE = ("name", "email", "phone", "language", "department", "groups", "active", "capacity", "digest_opt_out")
REQUIRED = ("name", "email", "language", "groups", "active", "capacity")

_INVALID: dict[Language, str] = {
    "en": "the staff member is not valid",
    "fr": "le membre du personnel n'est pas valide",
}
_RELOAD: dict[Language, str] = {
    "en": "someone else changed this staff member: reload and apply your change again",
    "fr": "quelqu'un d'autre a modifié ce membre du personnel : rechargez et refaites votre modification",
}
_EMAIL_TAKEN: dict[Language, str] = {
    "en": "a staff member already signs in with this email",
    "fr": "un membre du personnel se connecte déjà avec cette adresse e-mail",
}
_NOT_FOUND: dict[Language, str] = {"en": "no such staff member", "fr": "ce membre du personnel n'existe pas"}
_SELF_LOCKOUT: dict[Language, str] = {
    "en": "you cannot deactivate yourself or remove your own admin group: ask another admin",
    "fr": "vous ne pouvez ni vous désactiver ni retirer votre groupe admin : demandez à un autre admin",
}


@dataclass(frozen=True)
class StaffView:
    """What `/me` shows: the directory's record, with the groups the token carries."""

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


def staff_view(staff: Staff) -> dict[str, Any]:
    """A staff member as the directory routes answer it (managers and admins read it)."""
    return {
        "staff_id": staff.staff_id,
        "email": staff.email,
        "name": staff.name,
        "phone": staff.phone,
        "language": staff.language,
        "department": staff.department,
        "groups": sorted(staff.groups or ()),
        "active": bool(staff.active),
        "capacity": int(staff.capacity or 0),
        "open_cases": int(staff.open_cases or 0),
        "digest_opt_out": bool(staff.digest_opt_out),
        "signed_up": staff.cognito_sub is not None,
        "deactivated_at": staff.deactivated_at.isoformat() if staff.deactivated_at else None,
        "created_at": staff.created_at.isoformat() if staff.created_at else None,
        "updated_at": staff.updated_at.isoformat() if staff.updated_at else None,
        "version": int(staff.version or 0),
    }


# ------------------------------------------------------------------ validation


def clean(values: Mapping[str, Any], language: Language = "en", *, default_language: Language = "fr") -> dict[str, Any]:
    """The normal form of each field given; every problem at once as InvalidInput details."""
    cleaned: dict[str, Any] = {}
    problems: list[FieldProblem] = []
    for name, raw in values.items():
        if name == "digest_opt_out":
            cleaned[name] = bool(raw) if raw is not None else None
            continue
        if raw is None and name in REQUIRED:
            problems.append(FieldProblem("required", name))
            continue
        try:
            cleaned[name] = staff_csv.clean_field(name, raw, default_language=default_language)
        except FieldProblem as problem:
            problems.append(problem)
    if problems:
        colon = " : " if language == "fr" else ": "
        details = [
            {
                "where": f"body.{p.field}",
                "code": p.code,
                "problem": _required(p.field, language)
                if p.code == "required"
                else staff_csv.describe(p.code, language, {"field": p.field, **p.params}),
            }
            for p in problems
        ]
        raise InvalidInput(_INVALID[language] + colon + "; ".join(d["problem"] for d in details), details=details)
    return cleaned


def _required(name: str, language: Language) -> str:
    label = staff_csv.LABELS.get(name, {}).get(language, name)
    return f"{label} ne peut pas être vide" if language == "fr" else f"{label} cannot be empty"


# ------------------------------------------------------------------ reads


def list_staff(*, active: bool | None = None, group: str | None = None, department: str | None = None) -> list[Staff]:
    """The directory (one Scan of a few hundred items), filtered, sorted by name."""
    if group is not None and group not in GROUPS:
        raise InvalidInput(f"unknown group {group}: groups are {', '.join(GROUPS)}")
    if department is not None:
        try:
            department = staff_csv.department(department)  # "Service Client" finds service-client
        except FieldProblem:
            raise InvalidInput("a department is 1 to 40 letters, digits, - or _") from None
    found = [
        staff
        for staff in Staff.scan()
        if (active is None or bool(staff.active) == active)
        and (group is None or group in (staff.groups or ()))
        and (department is None or staff.department == department)
    ]
    return sorted(found, key=lambda staff: (staff.name.casefold(), staff.staff_id))


def get_staff(staff_id: str, language: Language = "en") -> Staff:
    try:
        return Staff.get(staff_id)
    except DoesNotExist:
        raise NotFound(_NOT_FOUND[language]) from None


def _email_owner(email: str) -> Staff | None:
    return Staff.find_by_email(email)


# ------------------------------------------------------------------ writes


def _derive(staff: Staff, *, was_active: bool | None) -> None:
    """`pool` from groups and state; `deactivated_at` set when leaving (or created inactive),
    cleared when back."""
    active = bool(staff.active)
    staff.pool = pool_of(set(staff.groups or ()), active)
    if active:
        staff.deactivated_at = None
    elif was_active is not False:
        staff.deactivated_at = clock.now()


def _new_staff(values: Mapping[str, Any], staff_id: str | None = None) -> Staff:
    staff = Staff(
        staff_id or new_id(),
        email=values["email"],
        name=values["name"],
        phone=values.get("phone"),
        language=values.get("language") or "fr",
        department=values.get("department"),
        groups=set(values.get("groups") or ()),
        active=values.get("active", True) is not False,
        capacity=int(values.get("capacity", staff_csv.DEFAULT_CAPACITY)),
        digest_opt_out=values.get("digest_opt_out") or None,
    )
    _derive(staff, was_active=None)
    return staff


def _put_new(staff: Staff, language: Language) -> Staff:
    """The first write of a staff member (open_cases starts at 0; the counters own it from then on)."""
    try:
        staff.save(condition=Staff.staff_id.does_not_exist())
    except PutError as error:
        raise Conflict(_EMAIL_TAKEN[language]) from error
    return staff


def create_staff(values: Mapping[str, Any], language: Language = "en") -> Staff:
    """Add a staff member; the email must not be anyone else's (checked on by_email first)."""
    given = {key: value for key, value in values.items() if value is not None}
    for required in ("name", "email"):
        given.setdefault(required, None)
    cleaned = clean(given, language)
    existing = _email_owner(cleaned["email"])
    if existing is not None:
        raise Conflict(_EMAIL_TAKEN[language], details={"staff_id": existing.staff_id})
    return _put_new(_new_staff(cleaned), language)


def _differs(stored: Any, value: Any) -> bool:
    if isinstance(value, set) or isinstance(stored, set):
        return set(stored or ()) != set(value or ())
    if isinstance(value, bool) or isinstance(stored, bool):
        return bool(stored) != bool(value)
    if isinstance(value, int) and stored is not None:
        return int(stored) != value
    return bool(stored != value)


def _apply(staff: Staff, changed: Mapping[str, Any]) -> list[Action]:
    """Set the changed fields on the item read and the update actions that write them (with the
    derived attributes); the version condition and increment come from PynamoDB."""
    was_active = bool(staff.active)
    before_pool, before_deactivated = staff.pool, staff.deactivated_at
    for name, value in changed.items():
        setattr(staff, name, set(value) if name == "groups" else value)
    _derive(staff, was_active=was_active)
    attributes = Staff.get_attributes()
    actions: list[Action] = []
    for name in changed:
        value = getattr(staff, name)
        empty = value is None or (name == "groups" and not value)
        actions.append(attributes[name].remove() if empty else attributes[name].set(value))
    if staff.pool != before_pool:
        actions.append(Staff.pool.remove() if staff.pool is None else Staff.pool.set(staff.pool))
    if staff.deactivated_at != before_deactivated:
        left = staff.deactivated_at
        actions.append(Staff.deactivated_at.remove() if left is None else Staff.deactivated_at.set(left))
    staff.updated_at = clock.now()
    actions.append(Staff.updated_at.set(staff.updated_at))
    return actions


def _write_changes(staff: Staff, changed: Mapping[str, Any], language: Language) -> Staff:
    actions = _apply(staff, changed)
    try:
        staff.update(actions=actions)  # condition version = the version read, ADD version 1
    except UpdateError as error:
        if _condition_failed(error):
            raise Conflict(_RELOAD[language]) from error
        raise
    return staff


def _condition_failed(error: Exception) -> bool:
    cause = getattr(error, "cause_response_code", None)
    return cause == "ConditionalCheckFailedException"


def edit_staff(
    staff_id: str,
    changes: Mapping[str, Any],
    version: int,
    language: Language = "en",
    *,
    editor: Identity | None = None,
) -> Staff:
    """Change some fields of a staff member still at `version`; deactivation is `active: false`."""
    unknown = sorted(set(changes) - set(EDITABLE))
    if unknown:
        raise InvalidInput(f"fields that cannot be edited: {', '.join(unknown)}")
    cleaned = clean(changes, language)
    staff = get_staff(staff_id, language)
    if int(staff.version or 0) != int(version):
        raise Conflict(_RELOAD[language], details={"version": int(staff.version or 0)})
    changed = {name: value for name, value in cleaned.items() if _differs(getattr(staff, name), value)}
    if not changed:
        return staff
    locks_out = changed.get("active") is False or ("groups" in changed and "admin" not in changed["groups"])
    if editor is not None and editor.email == staff.email and locks_out:
        raise InvalidInput(_SELF_LOCKOUT[language])
    if "email" in changed:
        owner = _email_owner(changed["email"])
        if owner is not None and owner.staff_id != staff.staff_id:
            raise Conflict(_EMAIL_TAKEN[language], details={"staff_id": owner.staff_id})
    return _write_changes(staff, changed, language)


def set_active(staff_id: str, active: bool, version: int, language: Language = "en") -> Staff:
    """Deactivate (a departure: sign-in disabled, open cases reassigned by staff_sync) or reactivate."""
    return edit_staff(staff_id, {"active": active}, version, language)


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
    """Add a staff member to the directory, or update the one with this email (demo and tests)."""
    unknown = set(groups) - set(GROUPS)
    if unknown:
        raise InvalidInput(f"unknown groups: {', '.join(sorted(unknown))}")
    if language not in {"fr", "en"}:
        raise InvalidInput("language must be fr or en")
    values: dict[str, Any] = {
        "email": email.strip().lower(),
        "name": name,
        "groups": set(groups),
        "language": language,
        "department": department,
        "phone": phone,
        "capacity": capacity,
        "active": True,
    }
    existing = _email_owner(values["email"])
    if existing is None:
        return _put_new(_new_staff(values, staff_id), "en")
    changed = {key: value for key, value in values.items() if _differs(getattr(existing, key), value)}
    return _write_changes(existing, changed, "en") if changed else existing


# ------------------------------------------------------------------ import


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0


def import_staff(data: bytes, language: Language = "en", *, default_language: Language = "fr") -> dict[str, Any]:
    """Upsert every good row of a staff CSV by email; the report: counts, each row's outcome, and
    the refused rows with line and reasons. Synchronous: a directory is a few hundred rows."""
    try:
        parsed = staff_csv.read_staff_file(data, default_language=default_language)
    except FileProblem as problem:
        raise InvalidInput(
            staff_csv.describe_file_problem(problem.code, language, problem.params),
            details={"code": problem.code},
        ) from None
    by_email = {staff.email: staff for staff in Staff.scan()}
    counts = ImportReport(rows=len(parsed.rows) + len(parsed.rejected))
    results: list[dict[str, Any]] = []
    rejected = [row.as_dict(language) for row in parsed.rejected]
    for row in parsed.rows:
        try:
            outcome, staff = _upsert_row(row, by_email.get(row.email), language, default_language)
        except Conflict:
            refused = staff_csv.RowProblem(row.line, row.email, [staff_csv.Problem("conflict", None)])
            rejected.append(refused.as_dict(language))
            continue
        by_email[staff.email] = staff
        setattr(counts, outcome, getattr(counts, outcome) + 1)
        results.append({"line": row.line, "email": row.email, "staff_id": staff.staff_id, "outcome": outcome})
    counts.rejected = len(rejected)
    return {
        **counts.__dict__,
        "encoding": parsed.encoding,
        "delimiter": parsed.delimiter,
        "columns": parsed.columns,
        "ignored_columns": parsed.ignored_columns,
        "results": results,
        "rejected_rows": sorted(rejected, key=lambda row: int(row["line"])),
    }


def _upsert_row(
    row: staff_csv.StaffRow, existing: Staff | None, language: Language, default_language: Language
) -> tuple[str, Staff]:
    if existing is None:
        return "created", _put_new(_new_staff({"language": default_language, **row.values}), language)
    for attempt in (1, 2):
        changed = {name: value for name, value in row.values.items() if _differs(getattr(existing, name), value)}
        if not changed:
            return "unchanged", existing
        try:
            return "updated", _write_changes(existing, changed, language)
        except Conflict:
            if attempt == 2:
                raise
            existing = get_staff(existing.staff_id, language)  # changed meanwhile: re-read, try once more
    raise AssertionError("unreachable")
