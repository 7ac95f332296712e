"""The staff pages' assets, read as files: every message in French and English, every key a page
uses defined, no way for customer text to become markup, nothing loaded from elsewhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from closeloop.api.staff_app import content_security_policy
from tests.support import ROOT

ASSETS = ROOT / "templates" / "staff" / "assets"
SCRIPTS = sorted(ASSETS.glob("*.js"))
CATALOGS = sorted(ASSETS.glob("messages-*.json"))
# t("key"), tn("key", n), t('key') - literal keys only; t(`...${x}`) cannot be checked and is refused below
KEY_USE = re.compile(r"""\b(t|tn)\(\s*(["'])([^"']+)\2""")
DYNAMIC_KEY = re.compile(r"""\b(t|tn)\(\s*`""")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _catalog(path: Path) -> dict[str, dict[str, str]]:
    loaded: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _code(script: Path) -> str:
    """The script without its comment lines."""
    lines = script.read_text(encoding="utf-8").splitlines()
    return "\n".join(line for line in lines if not line.strip().startswith(("//", "*", "/*")))


def _view_of(script: Path) -> str | None:
    return script.stem.removeprefix("view-") if script.stem.startswith("view-") else None


def test_there_is_a_catalog_for_the_frame_and_for_every_view() -> None:
    views = {_view_of(script) for script in SCRIPTS} - {None}
    catalogs = {path.stem.removeprefix("messages-") for path in CATALOGS}

    assert "core" in catalogs
    assert views <= catalogs, f"views without messages: {sorted(views - catalogs)}"


@pytest.mark.parametrize("path", CATALOGS, ids=lambda path: path.name)
def test_every_message_exists_in_french_and_in_english_with_the_same_placeholders(path: Path) -> None:
    catalog = _catalog(path)

    assert set(catalog) == {"fr", "en"}
    assert set(catalog["fr"]) == set(catalog["en"]), set(catalog["fr"]) ^ set(catalog["en"])
    for key, french in catalog["fr"].items():
        english = catalog["en"][key]
        assert french.strip(), f"{key} is empty in French"
        assert english.strip(), f"{key} is empty in English"
        assert set(PLACEHOLDER.findall(french)) == set(PLACEHOLDER.findall(english)), key


def test_no_key_is_defined_twice_across_catalogs_with_different_meanings() -> None:
    seen: dict[str, tuple[str, str]] = {}
    for path in CATALOGS:
        for key, english in _catalog(path)["en"].items():
            if key in seen and seen[key][1] != english:
                pytest.fail(f"{key} is in {seen[key][0]} and {path.name} with different texts")
            seen[key] = (path.name, english)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_every_message_key_a_script_uses_is_defined(script: Path) -> None:
    source = _code(script)
    view = _view_of(script)
    known = set(_catalog(ASSETS / "messages-core.json")["en"])
    if view:
        known |= set(_catalog(ASSETS / f"messages-{view}.json")["en"])

    used = {match.group(3) for match in KEY_USE.finditer(source)}
    plural = {key for key in used if f"{key}.one" in known and f"{key}.other" in known}

    if script.name != "core.js":  # tn() itself builds key.one / key.other
        assert not DYNAMIC_KEY.search(source), "message keys are literals, so that this test can check them"
    assert used - plural <= known, f"undefined in {script.name}: {sorted(used - plural - known)}"


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_no_script_turns_text_into_markup_or_code(script: Path) -> None:
    code = _code(script)

    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in code, f"{script.name} uses {sink}"
    markup = "\n".join(line for line in code.splitlines() if "Intl." not in line)  # Intl's `style` option is no CSS
    assert not re.search(r"""["']style["']\s*:|\bstyle\s*:""", markup), "inline styles are refused by the page's policy"


@pytest.mark.parametrize("path", [*SCRIPTS, ASSETS / "app.css", ROOT / "templates" / "staff" / "index.html"])
def test_nothing_is_loaded_from_another_site(path: Path) -> None:
    text = path.read_text(encoding="utf-8")

    assert not re.search(r"https?://(?!www\.w3\.org/)", text), f"{path.name} names another site"


def test_the_policy_admits_the_hosted_ui_for_the_token_and_nothing_inline() -> None:
    policy = content_security_policy("https://closeloop-prod-1.auth.eu-west-1.amazoncognito.com")

    assert "connect-src 'self' https://closeloop-prod-1.auth.eu-west-1.amazoncognito.com" in policy
    assert "script-src 'self'" in policy
    assert "style-src 'self'" in policy
    assert "unsafe" not in policy
    assert "frame-ancestors 'none'" in policy
