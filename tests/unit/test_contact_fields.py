"""The rules of a contact's fields: what is accepted, its normal form, and why the rest is refused."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from closeloop.rules import contact_fields as rules
from closeloop.rules.contact_fields import FieldProblem


@pytest.mark.parametrize(
    ("raw", "normal"),
    [
        ("  Anne.Lefebvre@Cabinet.example ", "anne.lefebvre@cabinet.example"),
        ("o'neil+nps@pharma-lyon.fr", "o'neil+nps@pharma-lyon.fr"),
        ("élodie@café.fr", "élodie@café.fr"),
    ],
)
def test_an_email_is_kept_in_lower_case_without_spaces(raw: str, normal: str) -> None:
    assert rules.email(raw) == normal


@pytest.mark.parametrize(
    "raw",
    ["", "plain", "a@b", "a@@b.fr", "a b@c.fr", "a@b..fr", ".a@b.fr", "a.@b.fr", "a@-b.fr", "a@b.f", "Jean <j@b.fr>"],
)
def test_an_invalid_email_is_refused(raw: str) -> None:
    with pytest.raises(FieldProblem) as raised:
        rules.email(raw)

    assert raised.value.code == ("missing_email" if not raw else "invalid_email")


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("06 12 34 56 78", "+33612345678"),
        ("612345678", "+33612345678"),  # Excel dropped the leading zero
        ("0033 6 12 34 56 78", "+33612345678"),
        ("+44 20 7946 0958", "+442079460958"),
        ("+1 (202) 555-0143", "+12025550143"),
    ],
)
def test_a_phone_number_is_stored_as_e164_read_in_france_by_default(raw: str, e164: str) -> None:
    assert rules.phone(raw) == e164


@pytest.mark.parametrize(
    ("raw", "why_en", "why_fr"),
    [
        ("12", "too short", "trop court"),
        ("6,12E+08", "not a number", "ce n'est pas un numéro"),
        ("+999 123456", "unknown country code", "indicatif de pays inconnu"),
        ("06 39 00 00 11", "no such number", "ce numéro n'existe pas"),
    ],
)
def test_an_invalid_phone_is_refused_with_the_reason_in_both_languages(raw: str, why_en: str, why_fr: str) -> None:
    with pytest.raises(FieldProblem) as raised:
        rules.phone(raw)

    assert raised.value.message("en") == f"not a valid phone number ({why_en})"
    assert raised.value.message("fr") == f"numéro de téléphone invalide ({why_fr})"


@pytest.mark.parametrize(
    ("raw", "language"),
    [
        ("fr", "fr"),
        ("FR", "fr"),
        ("fr-FR", "fr"),
        ("Français", "fr"),
        ("en_GB", "en"),
        ("English", "en"),
        ("anglais", "en"),
    ],
)
def test_a_language_is_fr_or_en_however_it_is_written(raw: str, language: str) -> None:
    assert rules.language(raw) == language


def test_another_language_is_refused_and_an_empty_one_takes_the_default() -> None:
    with pytest.raises(FieldProblem):
        rules.language("de")
    assert rules.language("", default="en") == "en"


@pytest.mark.parametrize(
    ("raw", "slug"),
    [("Pharmacie d'officine", "pharmacie-d-officine"), ("HÔPITAL", "hopital"), ("key_accounts", "key_accounts")],
)
def test_a_segment_becomes_a_slug(raw: str, slug: str) -> None:
    assert rules.segment(raw) == slug


def test_a_segment_with_no_letter_or_too_long_is_refused() -> None:
    for raw in ("#!?", "x" * 41):
        with pytest.raises(FieldProblem):
            rules.segment(raw)


@pytest.mark.parametrize(
    ("raw", "weight"),
    [("1,5", Decimal("1.5")), (" 2 ", Decimal(2)), ("0.33333", Decimal("0.3333")), ("1 000", Decimal(1000))],
)
def test_a_weight_reads_decimal_commas_and_keeps_four_decimals(raw: str, weight: Decimal) -> None:
    assert rules.weight(raw) == weight


@pytest.mark.parametrize("raw", ["0", "-1", "abc", "1001", "nan", "inf", "0,00001"])
def test_a_weight_that_is_not_above_zero_and_at_most_1000_is_refused(raw: str) -> None:
    with pytest.raises(FieldProblem):
        rules.weight(raw)


@given(st.decimals(min_value=Decimal("0.0001"), max_value=Decimal(1000), places=4))
def test_any_weight_written_with_a_comma_reads_back_as_itself(value: Decimal) -> None:
    assert rules.weight(str(value).replace(".", ",")) == value.normalize()


def test_name_keys_let_a_search_find_a_contact_by_the_start_of_its_folded_name() -> None:
    prefix, sort = rules.name_keys("Hélène", "Lefèvre-Dupré", "01J0")  # type: ignore[misc]

    assert (prefix, sort) == ("le", "lefevre dupre helene#01J0")
    assert sort.startswith(rules.search_key("Lefèvre dup"))
    assert rules.name_keys(None, None, "01J0") is None
