"""What a survey form may store (score, comment), and the language a page with no invitation speaks."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from closeloop.pages import languages_from
from closeloop.rules.answers import InvalidAnswer, clean_comment, parse_score


@pytest.mark.parametrize("text", [str(n) for n in range(11)])
def test_every_score_of_the_email_is_read_as_itself(text: str) -> None:
    assert parse_score(text) == int(text)


@pytest.mark.parametrize("text", [None, "", "11", "-1", "07", "+3", "3.0", "huit", "1 0", "٣"])
def test_anything_else_is_not_a_score(text: str | None) -> None:
    with pytest.raises(InvalidAnswer) as refused:
        parse_score(text)
    assert refused.value.code == "score"


def test_a_comment_loses_surrounding_blanks_control_and_reordering_characters_but_keeps_its_lines() -> None:
    assert clean_comment("  Bonjour\r\n\r\nLigne\u202e deux\x00\x1b \t fin  \n", 5000) == "Bonjour\n\nLigne deux \t fin"


def test_a_comment_of_blanks_only_is_no_comment() -> None:
    assert clean_comment(" \n\t\r\n ", 5000) is None
    assert clean_comment(None, 5000) is None


def test_a_comment_is_counted_in_characters_after_cleaning() -> None:
    assert clean_comment("é" * 5000 + "   ", 5000) == "é" * 5000
    assert clean_comment("e\u0301" * 10, 10) == "é" * 10  # NFC: ten characters, as a reader counts them
    with pytest.raises(InvalidAnswer) as refused:
        clean_comment("é" * 5001, 5000)
    assert refused.value.code == "comment_too_long"


@given(st.text(max_size=200))
def test_a_cleaned_comment_has_no_control_character_but_line_breaks_and_tabs(text: str) -> None:
    cleaned = clean_comment(text, 10_000)
    assert cleaned is None or cleaned == cleaned.strip()
    assert cleaned is None or all(
        char in "\n\t" or (ord(char) >= 0x20 and not 0x7F <= ord(char) <= 0x9F) for char in cleaned
    )
    assert clean_comment(cleaned, 10_000) == cleaned  # cleaning twice changes nothing


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("fr-FR,fr;q=0.9,en;q=0.8", ("fr", "en")),
        ("en-GB,en;q=0.9,fr;q=0.5", ("en", "fr")),
        ("fr-CA", ("fr", "en")),
        ("en-US", ("en", "fr")),
        ("de-DE,en;q=0.7,fr;q=0.8", ("fr", "en")),
        ("en;q=0.9,fr", ("fr", "en")),
        ("en,fr", ("en", "fr")),
        ("de-DE", ("fr", "en")),
        (None, ("fr", "en")),
        ("fr;q=0,en", ("en", "fr")),
        ("fr;q=abc", ("fr", "en")),
    ],
)
def test_a_page_for_no_known_invitation_puts_the_readers_language_first(
    header: str | None, expected: tuple[str, str]
) -> None:
    assert languages_from(header) == expected
