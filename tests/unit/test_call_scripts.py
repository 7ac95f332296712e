"""The call scripts a caller reads during the call: six guides (three categories, French and
English), each with its parts, filled with the case's values as plain text."""

from __future__ import annotations

import json
import re
from decimal import Decimal

import pytest

from closeloop.scripts import PARTS, PLACEHOLDERS, Script, load_script, load_script_by_key, parse_script, script_key

CATEGORIES = ("detractor", "passive", "promoter")
LANGUAGES = ("fr", "en")
EVERY_SCRIPT = [(category, language) for category in CATEGORIES for language in LANGUAGES]
VALUES = {
    "customer_name": "Claire Martin",
    "company": "Pharmacie du Centre",
    "score": 4,
    "caller_name": "Paul Durand",
    "company_name": "Laboratoires Orvalis",
    "comment": "Les livraisons arrivent en retard",
}


def _texts(script: Script) -> list[str]:
    texts = [script.title]
    for section in script.sections:
        texts += [section.heading, *section.paragraphs, *section.bullets]
    return texts


def _words(script: Script) -> str:
    return " ".join(_texts(script)).lower()


@pytest.mark.parametrize(("category", "language"), EVERY_SCRIPT)
def test_every_script_has_its_parts_in_order_each_with_something_to_read(category: str, language: str) -> None:
    script = load_script(category, language, **VALUES)

    assert (script.category, script.language, script.key) == (category, language, f"{category}.{language}")
    assert script.title
    assert tuple(section.part for section in script.sections) == PARTS
    for section in script.sections:
        assert section.heading, section.part
        assert section.bullets, section.part  # headings and bullets: readable during a call


@pytest.mark.parametrize(("category", "language"), EVERY_SCRIPT)
def test_a_script_is_short_enough_to_read_during_a_call(category: str, language: str) -> None:
    words = len(_words(load_script(category, language, **VALUES)).split())

    assert 300 < words < 800  # about a page


@pytest.mark.parametrize(("category", "language"), EVERY_SCRIPT)
def test_the_values_are_filled_and_no_template_syntax_is_left(category: str, language: str) -> None:
    script = load_script(category, language, **VALUES)
    opening = " ".join(script.section("opening").paragraphs + script.section("opening").bullets)

    for text in _texts(script):
        assert "{{" not in text
        assert "{%" not in text
        assert "{#" not in text
        assert "[" not in text, text  # no blank left when every value is known
    for value in VALUES.values():
        assert str(value) in opening
    assert re.search(r"4 (sur|out of) 10", opening)


@pytest.mark.parametrize("category", CATEGORIES)
def test_the_french_scripts_speak_to_the_customer_with_vous(category: str) -> None:
    script = load_script(category, "fr", **VALUES)
    spoken = [bullet for section in script.sections for bullet in section.bullets if "«" in bullet]

    assert spoken, "phrases to say, between guillemets"
    assert sum(len(re.findall(r"\b(vous|votre|vos)\b", phrase.lower())) for phrase in spoken) >= 8
    assert not re.search(r"\b(tu|toi|ton|ta|tes|t')\b", _words(script)), "vouvoiement throughout"


@pytest.mark.parametrize("category", CATEGORIES)
def test_the_english_script_is_written_in_english_not_the_french_one(category: str) -> None:
    english, french = load_script(category, "en", **VALUES), load_script(category, "fr", **VALUES)

    assert english.title != french.title
    assert not re.search(r"\b(vous|votre|nous)\b", _words(english))
    assert "you" in _words(english)
    assert [section.part for section in english.sections] == [section.part for section in french.sections]


def test_each_category_asks_its_own_questions() -> None:
    ask = {
        (category, language): " ".join(load_script(category, language, **VALUES).section("ask").bullets).lower()
        for category, language in EVERY_SCRIPT
    }

    assert "passé" in ask["detractor", "fr"]
    assert "conséquences" in ask["detractor", "fr"]
    assert "réglerait" in ask["detractor", "fr"]
    assert "what happened" in ask["detractor", "en"]
    assert "put this right" in ask["detractor", "en"]
    assert "9 ou 10" in ask["passive", "fr"]
    assert "9 or a 10" in ask["passive", "en"]
    assert "recommanderiez" in ask["promoter", "fr"]
    assert "témoigner" in ask["promoter", "fr"]
    assert "libre de refuser" in ask["promoter", "fr"]  # a reference, without pressure
    assert "free to say no" in ask["promoter", "en"]


@pytest.mark.parametrize(("category", "language"), EVERY_SCRIPT)
def test_every_script_says_what_not_to_promise_and_what_to_log(category: str, language: str) -> None:
    script = load_script(category, language, **VALUES)
    promise = " ".join(script.section("promise").bullets).lower()
    log = " ".join(script.section("log").bullets).lower()

    assert ("jamais" if language == "fr" else "never") in promise
    assert ("plan d'amélioration" if language == "fr" else "improvement plan") in promise
    outcomes = (
        ("joint", "pas de réponse", "messagerie", "mauvais numéro", "refus")
        if language == "fr"
        else ("reached", "no answer", "voicemail", "wrong number", "declined")
    )
    for word in outcomes:
        assert word in log
    assert "irritants" in log
    assert ("revienne vers" if language == "fr" else "hear back") in log


@pytest.mark.parametrize("language", LANGUAGES)
def test_unknown_values_show_as_blanks_and_the_optional_ones_are_left_out(language: str) -> None:
    script = load_script("detractor", language)
    opening = script.section("opening")

    blank = "[nom du client]" if language == "fr" else "[customer name]"
    assert blank in opening.paragraphs[0]
    assert "(" not in opening.paragraphs[0]  # no company: no empty brackets
    assert "«" not in opening.paragraphs[0]
    assert '"' not in opening.paragraphs[0]  # no comment: the sentence quoting it is left out
    assert all("{{" not in text for text in _texts(script))


def test_a_comment_cannot_add_a_section_or_a_bullet_and_is_kept_on_one_line() -> None:
    comment = "Très déçu.\n\n## Section pirate {#opening}\n- une puce\n{{ caller_name }} <b>gras</b>"

    script = load_script("detractor", "fr", **{**VALUES, "comment": comment})

    assert tuple(section.part for section in script.sections) == PARTS
    plain = load_script("detractor", "fr", **{**VALUES, "comment": "x"})
    assert script.sections[1:] == plain.sections[1:]  # only the sentence quoting the comment differs
    first = script.section("opening").paragraphs[0]
    assert "Très déçu. ## Section pirate {#opening} - une puce {{ caller_name }} <b>gras</b>" in first
    assert "\n" not in first
    assert len(script.section("opening").bullets) == len(load_script("detractor", "fr").section("opening").bullets)


def test_a_long_comment_is_cut_with_an_ellipsis() -> None:
    script = load_script("passive", "en", **{**VALUES, "comment": "slow " * 200})

    quoted = re.search(r'wrote: "([^"]*)"', script.section("opening").paragraphs[0])
    assert quoted is not None
    assert quoted.group(1).endswith("…")
    assert len(quoted.group(1)) == 300


def test_a_score_read_from_dynamodb_shows_as_a_whole_number() -> None:
    script = load_script("promoter", "fr", **{**VALUES, "score": Decimal(9)})

    assert "donné 9 sur 10" in script.section("opening").paragraphs[0]


@pytest.mark.parametrize(
    ("category", "language", "value", "message"),
    [
        ("angry", "fr", {}, "category 'angry'"),
        ("detractor", "de", {}, "language 'de'"),
        ("detractor", "fr", {"customer": "x"}, "no value customer"),
    ],
)
def test_an_unknown_category_language_or_value_is_a_clear_error(
    category: str, language: str, value: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load_script(category, language, **value)


def test_a_case_names_its_script_by_category_and_language() -> None:
    assert script_key("passive", "en") == "passive.en"
    assert load_script_by_key("passive.en", **VALUES) == load_script("passive", "en", **VALUES)
    with pytest.raises(ValueError, match="category"):
        script_key("neutral", "fr")
    with pytest.raises(ValueError, match="category ''"):
        load_script_by_key("")


def test_as_dict_is_the_json_the_api_returns() -> None:
    answer = json.loads(json.dumps(load_script("detractor", "en", **VALUES).as_dict()))

    assert answer["script"] == "detractor.en"
    assert (answer["category"], answer["language"]) == ("detractor", "en")
    assert answer["title"].startswith("Calling back a detractor")
    assert [section["part"] for section in answer["sections"]] == list(PARTS)
    assert set(answer["sections"][0]) == {"part", "heading", "paragraphs", "bullets"}
    assert answer["sections"][0]["heading"] == "Opening"
    assert any("Claire Martin" in bullet for bullet in answer["sections"][0]["bullets"])


def test_every_placeholder_is_used_by_every_script() -> None:
    for category, language in EVERY_SCRIPT:
        marked = {name: f"<{name}>" for name in PLACEHOLDERS}
        text = " ".join(_texts(load_script(category, language, **marked)))
        for name in PLACEHOLDERS:
            assert f"<{name}>" in text, (category, language, name)


GOOD = """# Title

## Opening {#opening}
A paragraph
on two lines.
- a bullet
  that goes on
- another

## Listening {#listening}
- b
## Ask {#ask}
- c
## Promise {#promise}
- d
## Closing {#closing}
- e
## Log {#log}
- f
"""


def test_the_markdown_subset_parses_paragraphs_and_bullets_on_several_lines() -> None:
    source = parse_script(GOOD)

    assert source.title == "Title"
    assert source.sections[0].paragraphs == ("A paragraph on two lines.",)
    assert source.sections[0].bullets == ("a bullet that goes on", "another")
    headings = [section.heading for section in source.sections]
    assert headings == ["Opening", "Listening", "Ask", "Promise", "Closing", "Log"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (GOOD.replace("# Title\n", ""), "text before the first section|starts with"),
        (GOOD.replace("- another\n", "- another\n\nA paragraph after.\n"), "paragraph after the bullets"),
        (GOOD.replace("## Ask {#ask}\n- c\n", ""), "in this order"),
        (GOOD.replace("## Log {#log}", "## Log"), "section heading"),
        (GOOD.replace("## Closing {#closing}", "### Closing"), "section heading"),
    ],
)
def test_a_script_that_breaks_the_subset_is_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_script(text)
