"""Reading a staff CSV (the directory export of HR or Excel), and what each field of a staff member holds.

The file is read by the contacts CSV reader (closeloop.rules.contacts_csv: encoding, separator,
quotes), with the staff columns in French or English. Each record becomes a `StaffRow` with its
values in normal form, or a `RowProblem` list (line and reasons, in French and English) so that an
import keeps the good rows and reports the others (DESIGN Q1). The field rules are shared with the
staff API. Nothing here reads or writes anything.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from closeloop.rules import contact_fields, contacts_csv
from closeloop.rules.contact_fields import FieldProblem, Language
from closeloop.rules.contacts_csv import (
    ContactsCsv,
    FileProblem,
    Record,
    describe_record_problem,
    fold_header,
)

GROUPS = ("caller", "manager", "admin")
DEFAULT_CAPACITY = 20
MAX_CAPACITY = 1000
MAX_NAME = 100
MAX_FILE_BYTES = 1024 * 1024  # about 300 people fit in 30 KB; a file this big is not a staff list
MAX_ROWS = 2000
REQUIRED = ("email", "name")
OPTIONAL = ("phone", "language", "department", "groups", "active", "capacity")

# folded header name -> field
HEADER_NAMES: dict[str, str] = {}
for _field, _names in {
    "name": ("nom", "name", "nom complet", "full name", "nom et prenom", "prenom nom", "display name"),
    "first_name": ("prenom", "first name", "firstname", "given name"),
    "email": ("email", "e-mail", "e mail", "mail", "courriel", "adresse e-mail", "adresse email", "email address"),
    "phone": ("telephone", "tel", "tel.", "phone", "phone number", "mobile", "portable"),
    "language": ("langue", "language", "lang"),
    "department": ("departement", "department", "service", "direction", "dept"),
    "groups": ("groupes", "groups", "groupe", "group", "roles", "role"),
    "active": ("actif", "active", "active?", "actif ?", "enabled"),
    "capacity": ("capacite", "capacity", "dossiers max", "max cases"),
}.items():
    for _name in _names:
        HEADER_NAMES[fold_header(_name)] = _field

_GROUP_WORDS: dict[str, str] = {
    "caller": "caller",
    "callers": "caller",
    "appelant": "caller",
    "appelante": "caller",
    "appelants": "caller",
    "manager": "manager",
    "managers": "manager",
    "gestionnaire": "manager",
    "admin": "admin",
    "admins": "admin",
    "administrateur": "admin",
    "administratrice": "admin",
    "administrator": "admin",
}
_TRUE = {"oui", "o", "yes", "y", "1", "true", "vrai", "x", "actif", "active"}
_FALSE = {"non", "n", "no", "0", "false", "faux", "inactif", "inactive"}

LABELS: dict[str, dict[Language, str]] = {
    "name": {"en": "name", "fr": "nom"},
    "email": {"en": "email", "fr": "e-mail"},
    "phone": {"en": "phone", "fr": "téléphone"},
    "language": {"en": "language", "fr": "langue"},
    "department": {"en": "department", "fr": "département"},
    "groups": {"en": "groups", "fr": "groupes"},
    "active": {"en": "active", "fr": "actif"},
    "capacity": {"en": "capacity", "fr": "capacité"},
}

MESSAGES: dict[str, dict[Language, str]] = {
    "missing_name": {"en": "no name", "fr": "nom absent"},
    "invalid_department": {
        "en": "a department is 1 to 40 letters, digits, - or _",
        "fr": "un département compte 1 à 40 lettres, chiffres, - ou _",
    },
    "invalid_groups": {
        "en": "unknown group {groups}: groups are caller, manager, admin (appelant accepted)",
        "fr": "groupe inconnu {groups} : les groupes sont caller (appelant), manager, admin",
    },
    "invalid_active": {
        "en": "active must be yes or no (oui/non, 1/0)",
        "fr": "actif doit valoir oui ou non (yes/no, 1/0)",
    },
    "invalid_capacity": {
        "en": "the capacity must be a whole number from 0 to {limit}",
        "fr": "la capacité doit être un nombre entier de 0 à {limit}",
    },
    "duplicate": {"en": "duplicate of line {of_line}", "fr": "doublon de la ligne {of_line}"},
    "conflict": {
        "en": "the staff member changed during the import: import the file again",
        "fr": "le membre du personnel a changé pendant l'import : importez à nouveau le fichier",
    },
    "too_many_rows": {
        "en": "beyond {limit} rows: split the file",
        "fr": "au-delà de {limit} lignes : découpez le fichier",
    },
}

# The contacts file's messages, with the wording that names the staff list where it differs.
FILE_MESSAGES: dict[str, dict[Language, str]] = {
    **contacts_csv.FILE_MESSAGES,
    "no_rows": {
        "en": "the file has a header line but no staff member",
        "fr": "le fichier a une ligne d'en-tête mais aucun membre du personnel",
    },
    "binary": {
        "en": "this is not a text file: export the staff list as CSV",
        "fr": "ce n'est pas un fichier texte : exportez la liste du personnel en CSV",
    },
    "too_big": {
        "en": "the file is larger than {limit} bytes: is it the staff list?",
        "fr": "le fichier dépasse {limit} octets : est-ce bien la liste du personnel ?",
    },
}


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().strip().lower()


def describe(code: str, language: Language, params: Mapping[str, str] | None = None) -> str:
    """The message of a problem code (staff field, contact field or CSV record) in a language."""
    values = dict(params or {})
    field_name = values.pop("field", "")
    if code in contact_fields.MESSAGES:
        if field_name in contact_fields.FIELD_LABELS:
            return FieldProblem(code, field_name, values).message(language)
        label = LABELS.get(field_name, {}).get(language, field_name)
        return contact_fields.describe(code, language, {"field": label, **values})
    if code not in MESSAGES:
        return describe_record_problem(code, language, values)
    template = MESSAGES[code][language]
    try:
        return template.format(**values)
    except (KeyError, IndexError):
        return template


def describe_file_problem(code: str, language: Language, params: Mapping[str, str] | None = None) -> str:
    return contacts_csv.describe_file_problem(code, language, dict(params or {}), messages=FILE_MESSAGES)


# ------------------------------------------------------------------ the field rules


def name(raw: str | None) -> str:
    """Trimmed, inner spaces collapsed, NFC; required."""
    value = contact_fields.text(raw, "name", MAX_NAME)
    if value is None:
        raise FieldProblem("missing_name", "name")
    return value


def department(raw: str | None) -> str | None:
    """A slug (data-model conventions): `Service Client` becomes `service-client`; None when empty.

    Departments key the improvement plan and the taxonomy, so they are compared as slugs; a page
    shows the slug, which reads well enough (`qualite`, `service-client`)."""
    text = re.sub(r"[^a-z0-9_-]+", "-", _fold(raw or "")).strip("-")
    if not text and not (raw or "").strip():
        return None
    if not re.fullmatch(r"[a-z0-9_-]{1,40}", text):
        raise FieldProblem("invalid_department", "department")
    return text


def groups(raw: str | Iterable[str] | None) -> set[str]:
    """`caller`, `manager`, `admin` from a cell (`;`, `,` or spaces between) or a list; French
    names accepted (`appelant`, `gestionnaire`, `administrateur`)."""
    words = re.split(r"[;,/|\s]+", raw) if isinstance(raw, str) else list(raw or [])
    found: set[str] = set()
    unknown: list[str] = []
    for word in words:
        folded = _fold(str(word))
        if not folded:
            continue
        mapped = _GROUP_WORDS.get(folded)
        if mapped is None:
            unknown.append(str(word).strip())
        else:
            found.add(mapped)
    if unknown:
        raise FieldProblem("invalid_groups", "groups", {"groups": ", ".join(unknown)})
    return found


def active(raw: str | bool | None) -> bool:
    """yes/no in French or English, 1/0; empty means active."""
    if isinstance(raw, bool):
        return raw
    folded = _fold(raw or "")
    if not folded or folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise FieldProblem("invalid_active", "active")


def capacity(raw: str | int | None) -> int:
    """Open cases at most: a whole number from 0 to MAX_CAPACITY; empty means the default."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return DEFAULT_CAPACITY
    if isinstance(raw, bool):
        raise FieldProblem("invalid_capacity", "capacity", {"limit": str(MAX_CAPACITY)})
    text = str(raw).strip().replace("\u00a0", "").replace(" ", "")
    if re.fullmatch(r"\d+([.,]0*)?", text) is None:
        raise FieldProblem("invalid_capacity", "capacity", {"limit": str(MAX_CAPACITY)})
    value = int(re.split(r"[.,]", text)[0])
    if value > MAX_CAPACITY:
        raise FieldProblem("invalid_capacity", "capacity", {"limit": str(MAX_CAPACITY)})
    return value


def clean_field(name_: str, raw: Any, *, default_language: Language = "fr") -> Any:
    """The normal form of one field of a staff member, or FieldProblem."""
    if name_ == "name":
        return name(raw)
    if name_ == "email":
        return contact_fields.email(raw)
    if name_ == "phone":
        return contact_fields.phone(raw)
    if name_ == "language":
        return contact_fields.language(raw, default=default_language if raw in (None, "") else None)
    if name_ == "department":
        return department(raw)
    if name_ == "groups":
        return groups(raw)
    if name_ == "active":
        return active(raw)
    if name_ == "capacity":
        return capacity(raw)
    raise FieldProblem("unknown_field", name_)


# ------------------------------------------------------------------ the file


@dataclass(frozen=True)
class Problem:
    """One reason a row is refused: a code, the field it concerns, and its message parameters."""

    code: str
    field: str | None = None
    params: dict[str, str] = dataclasses.field(default_factory=dict)

    def message(self, language: Language) -> str:
        return describe(self.code, language, {**({"field": self.field} if self.field else {}), **self.params})


@dataclass(frozen=True)
class StaffRow:
    """A good row: the fields of its non-empty cells, in normal form (absent or empty: absent)."""

    line: int
    values: dict[str, Any]

    @property
    def email(self) -> str:
        return str(self.values["email"])


@dataclass(frozen=True)
class RowProblem:
    line: int
    email: str | None
    problems: list[Problem]

    def as_dict(self, language: Language) -> dict[str, Any]:
        return {
            "line": self.line,
            "email": self.email,
            "reason": self.problems[0].code,
            "problems": [{"reason": p.code, "field": p.field, "message": p.message(language)} for p in self.problems],
        }


@dataclass(frozen=True)
class StaffFile:
    encoding: str
    delimiter: str
    columns: list[str]
    ignored_columns: list[str]
    rows: list[StaffRow]
    rejected: list[RowProblem]


class StaffCsv(ContactsCsv):
    """The contacts reader with the staff columns (name and email required)."""

    header_names = HEADER_NAMES
    required = REQUIRED


def check_row(record: Record, *, default_language: Language = "fr") -> StaffRow | RowProblem:
    """A record of the file as a good row, or the reasons it is refused (every one at once)."""
    if record.problem:
        return RowProblem(record.line, None, [Problem(record.problem, None, dict(record.params))])
    values: dict[str, Any] = {}
    problems: list[Problem] = []
    cells = dict(record.values)
    first_name = cells.pop("first_name", "").strip()
    if first_name and cells.get("name", "").strip():
        cells["name"] = f"{first_name} {cells['name']}"  # "Prénom" and "Nom" columns: one name
    for name_, raw in cells.items():
        if name_ in OPTIONAL and not raw.strip():
            continue  # an empty cell changes nothing (a new member takes the default)
        try:
            values[name_] = clean_field(name_, raw, default_language=default_language)
        except FieldProblem as problem:
            problems.append(Problem(problem.code, problem.field, {k: str(v) for k, v in problem.params.items()}))
    email = values.get("email")
    if problems:
        return RowProblem(record.line, email if isinstance(email, str) else _raw_email(record), problems)
    return StaffRow(record.line, values)


def _raw_email(record: Record) -> str | None:
    raw = (record.values.get("email") or "").strip()
    return raw[:254] or None


def read_staff_file(data: bytes, *, default_language: Language = "fr") -> StaffFile:
    """Every row of a staff CSV checked; raises FileProblem when the file as a whole is unusable."""
    if len(data) > MAX_FILE_BYTES:
        raise FileProblem("too_big", limit=str(MAX_FILE_BYTES))
    reader = StaffCsv([data])
    rows: list[StaffRow] = []
    rejected: list[RowProblem] = []
    seen: dict[str, int] = {}
    count = 0
    for record in reader:
        count += 1
        if count > MAX_ROWS:
            rejected.append(RowProblem(record.line, None, [Problem("too_many_rows", None, {"limit": str(MAX_ROWS)})]))
            break
        checked = check_row(record, default_language=default_language)
        if isinstance(checked, RowProblem):
            rejected.append(checked)
            continue
        first = seen.get(checked.email)
        if first is not None:
            rejected.append(
                RowProblem(checked.line, checked.email, [Problem("duplicate", "email", {"of_line": str(first)})])
            )
            continue
        seen[checked.email] = checked.line
        rows.append(checked)
    if count == 0:
        raise FileProblem("no_rows")
    return StaffFile(
        encoding=reader.encoding,
        delimiter=reader.delimiter,
        columns=[name_ for name_ in sorted(reader.columns, key=lambda n: reader.columns[n]) if name_ != "first_name"],
        ignored_columns=list(reader.ignored),
        rows=rows,
        rejected=rejected,
    )
