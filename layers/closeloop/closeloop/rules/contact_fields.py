"""What a contact's fields may hold, and their normal form: one set of rules for the API and imports.

Each rule takes what a person typed (a form field, a CSV cell) and returns the value to store, or
raises `FieldProblem` with a code and the parameters of a message in French and English. Nothing
here reads or writes anything.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Literal

import phonenumbers

Language = Literal["fr", "en"]
LANGUAGES: tuple[Language, ...] = ("fr", "en")
DEFAULT_SEGMENT = "general"
DEFAULT_REGION = "FR"
MAX_NAME = 100
MAX_COMPANY = 200
MAX_WEIGHT = Decimal(1000)
WEIGHT_PLACES = Decimal("0.0001")

# field -> its label in each language (reports and errors name the field in the reader's language)
FIELD_LABELS: dict[str, dict[Language, str]] = {
    "email": {"en": "email", "fr": "e-mail"},
    "first_name": {"en": "first name", "fr": "prénom"},
    "last_name": {"en": "last name", "fr": "nom"},
    "phone": {"en": "phone", "fr": "téléphone"},
    "company": {"en": "company", "fr": "société"},
    "segment": {"en": "segment", "fr": "segment"},
    "language": {"en": "language", "fr": "langue"},
    "account_owner": {"en": "account owner", "fr": "responsable"},
    "weight": {"en": "weight", "fr": "poids"},
}

# code -> message templates; parameters in braces
MESSAGES: dict[str, dict[Language, str]] = {
    "missing_email": {"en": "no email address", "fr": "adresse e-mail absente"},
    "invalid_email": {"en": "not a valid email address", "fr": "adresse e-mail invalide"},
    "invalid_phone": {
        "en": "not a valid phone number ({why})",
        "fr": "numéro de téléphone invalide ({why})",
    },
    "invalid_language": {"en": "the language must be fr or en", "fr": "la langue doit être fr ou en"},
    "invalid_segment": {
        "en": "a segment is 1 to 40 letters, digits, - or _",
        "fr": "un segment compte 1 à 40 lettres, chiffres, - ou _",
    },
    "invalid_weight": {
        "en": "the weight must be a number above 0 and at most 1000",
        "fr": "le poids doit être un nombre supérieur à 0 et au plus 1000",
    },
    "invalid_account_owner": {
        "en": "the account owner must be a staff member's email address",
        "fr": "le responsable doit être l'adresse e-mail d'un membre du personnel",
    },
    "unknown_account_owner": {
        "en": "no active staff member has this account owner's email address",
        "fr": "aucun membre actif du personnel n'a l'adresse e-mail de ce responsable",
    },
    "too_long": {
        "en": "the {field} is longer than {limit} characters",
        "fr": "le champ {field} dépasse {limit} caractères",
    },
}

_PHONE_WHY: dict[str, dict[Language, str]] = {
    "not_a_number": {"en": "not a number", "fr": "ce n'est pas un numéro"},
    "invalid_country_code": {"en": "unknown country code", "fr": "indicatif de pays inconnu"},
    "too_short": {"en": "too short", "fr": "trop court"},
    "too_long": {"en": "too long", "fr": "trop long"},
    "invalid": {"en": "no such number", "fr": "ce numéro n'existe pas"},
}


class FieldProblem(Exception):
    """A value that breaks a rule: `code` names the rule, `params` fill its message."""

    def __init__(self, code: str, field: str, params: dict[str, str] | None = None) -> None:
        super().__init__(code)
        self.code = code
        self.field = field
        self.params = params or {}

    def message(self, language: Language = "en") -> str:
        label = FIELD_LABELS.get(self.field, {}).get(language, self.field)
        values = {key: _localised_param(value, language) for key, value in self.params.items()}
        return describe(self.code, language, {"field": label, **values})


def _localised_param(value: str, language: Language) -> str:
    return _PHONE_WHY[value][language] if value in _PHONE_WHY else value


def describe(code: str, language: Language, params: dict[str, str] | None = None) -> str:
    """The message of a problem code in a language; an unknown code reads as itself."""
    template = MESSAGES.get(code, {}).get(language) or code
    try:
        return template.format(**(params or {}))
    except (KeyError, IndexError):
        return template


# ------------------------------------------------------------------ the rules

_LOCAL = re.compile(r"^[^\s@\"(),:;<>\[\]\\]+$")
_LABEL = re.compile(r"^(?!-)[^\s@\"(),:;<>\[\]\\_.]{1,63}(?<!-)$")
_SLUG = re.compile(r"^[a-z0-9_-]{1,40}$")


def email(raw: str | None, *, field_name: str = "email") -> str:
    """The normal form of an email address (strip, NFC, lower case), or a problem."""
    text = unicodedata.normalize("NFC", raw or "").strip().lower()
    if not text:
        raise FieldProblem("missing_email" if field_name == "email" else "invalid_account_owner", field_name)
    invalid = "invalid_email" if field_name == "email" else "invalid_account_owner"
    local, at, domain = text.rpartition("@")
    labels = domain.split(".")
    if (
        not at
        or len(text) > 254
        or not 0 < len(local) <= 64
        or not _LOCAL.match(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
        or len(labels) < 2
        or not all(_LABEL.match(label) for label in labels)
        or len(labels[-1]) < 2
        or labels[-1].isdigit()
    ):
        raise FieldProblem(invalid, field_name)
    return text


def phone(raw: str | None, region: str = DEFAULT_REGION) -> str | None:
    """E.164 (`+33612345678`); national numbers are read in `region` (France by default)."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as error:
        why = "invalid_country_code" if error.error_type == error.INVALID_COUNTRY_CODE else "not_a_number"
        if error.error_type in (error.TOO_SHORT_NSN, error.TOO_SHORT_AFTER_IDD):
            why = "too_short"
        elif error.error_type == error.TOO_LONG:
            why = "too_long"
        raise FieldProblem("invalid_phone", "phone", {"why": why}) from None
    if not phonenumbers.is_valid_number(number):
        reason = phonenumbers.is_possible_number_with_reason(number)
        why = {
            phonenumbers.ValidationResult.TOO_SHORT: "too_short",
            phonenumbers.ValidationResult.TOO_LONG: "too_long",
            phonenumbers.ValidationResult.INVALID_COUNTRY_CODE: "invalid_country_code",
        }.get(reason, "invalid")
        raise FieldProblem("invalid_phone", "phone", {"why": why})
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


_LANGUAGE_WORDS: dict[str, Language] = {
    "fr": "fr",
    "fra": "fr",
    "fre": "fr",
    "francais": "fr",
    "french": "fr",
    "en": "en",
    "eng": "en",
    "anglais": "en",
    "english": "en",
}


def _folded(text: str) -> str:
    """Lower case, no accents, trimmed: for comparing words people type."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().strip().lower()


def language(raw: str | None, default: Language | None = None) -> Language:
    """`fr` or `en`; reads `FR`, `fr-FR`, `en_GB`, `Français`, `English` too."""
    text = _folded(raw or "")
    if not text:
        if default is None:
            raise FieldProblem("invalid_language", "language")
        return default
    found = _LANGUAGE_WORDS.get(text) or _LANGUAGE_WORDS.get(re.split(r"[-_]", text, maxsplit=1)[0])
    if found is None:
        raise FieldProblem("invalid_language", "language")
    return found


def segment(raw: str | None, default: str | None = DEFAULT_SEGMENT) -> str:
    """A slug: `Pharmacie d'officine` becomes `pharmacie-d-officine`."""
    text = re.sub(r"[^a-z0-9_-]+", "-", _folded(raw or "")).strip("-")
    if not text and not (raw or "").strip() and default is not None:
        return default
    if not _SLUG.match(text):
        raise FieldProblem("invalid_segment", "segment")
    return text


def weight(raw: str | float | Decimal | None, default: Decimal | None = Decimal(1)) -> Decimal:
    """A weight above 0 and at most 1000, with at most 4 decimals; reads `1,5` as well as `1.5`."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        if default is None:
            raise FieldProblem("invalid_weight", "weight")
        return default
    if isinstance(raw, bool):
        raise FieldProblem("invalid_weight", "weight")
    text = str(raw).strip().replace("\u00a0", "").replace(" ", "").replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise FieldProblem("invalid_weight", "weight") from None
    if not value.is_finite() or not Decimal(0) < value <= MAX_WEIGHT:
        raise FieldProblem("invalid_weight", "weight")
    rounded = value.quantize(WEIGHT_PLACES, rounding=ROUND_HALF_EVEN).normalize()
    if rounded <= 0:
        raise FieldProblem("invalid_weight", "weight")
    return rounded


def account_owner(raw: str | None) -> str | None:
    """The lower-case email of a staff member, or None."""
    if not (raw or "").strip():
        return None
    return email(raw, field_name="account_owner")


def text(raw: str | None, field_name: str, limit: int = MAX_NAME) -> str | None:
    """A free text (name, company): trimmed, inner spaces collapsed, NFC; None when empty."""
    value = re.sub(r"\s+", " ", unicodedata.normalize("NFC", raw or "")).strip()
    if not value:
        return None
    if len(value) > limit:
        raise FieldProblem("too_long", field_name, {"limit": str(limit)})
    return value


# ------------------------------------------------------------------ keys of the contact indexes


def company_key(company: str | None) -> str | None:
    """Companies compared without case, accents or punctuation (the by_company index)."""
    if not company:
        return None
    return re.sub(r"[^a-z0-9]+", " ", _folded(company)).strip() or None


def name_key(text_value: str | None) -> str:
    """A name folded for search: lower case, no accents, letters and digits with single spaces."""
    return re.sub(r"[^a-z0-9]+", " ", _folded(text_value or "")).strip()


def name_keys(first_name: str | None, last_name: str | None, contact_id: str) -> tuple[str, str] | None:
    """(name_prefix, name_sort) of the by_name index, or None for a contact with no name.

    name_prefix is the first 2 characters of the folded last name (or first name when there is
    no last name); name_sort is `"<last> <first>#<contact_id>"`, folded, so that a search for
    `dup` or `dupont mar` is one Query: `name_prefix = "du" AND begins_with(name_sort, "dupont mar")`.
    """
    last, first = name_key(last_name), name_key(first_name)
    whole = f"{last} {first}".strip()
    if not whole:
        return None
    return whole[:2], f"{whole}#{contact_id}"


def search_key(query: str) -> str:
    """What a name search looks for in name_sort (the prefix is its first 2 characters)."""
    return name_key(query)
