"""Call scripts: the dialogue guide a caller reads during the call, one per NPS category and
language (templates/scripts/<category>.<language>.md), filled with the case's values.

The guides are written in a small markdown subset: `# title`, then one `## heading {#part}` per
part (PARTS, in that order), each with paragraphs and then `- ` bullets. The file is parsed
before it is rendered and each piece is rendered on its own, so a value (a customer's comment)
can never add a heading or a bullet. The result is plain text: whoever shows it escapes it (the
staff pages render it as HTML with autoescape), so no markup is interpreted here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

from jinja2 import Template

from closeloop.rules.nps import CATEGORIES
from closeloop.templating import environment, templates_dir

LANGUAGES = ("fr", "en")
PARTS = ("opening", "listening", "ask", "promise", "closing", "log")
"""Every script has these parts, in this order: who you are and why you call; how to listen;
what to ask for the category; what to promise and what not; how to close; what to log."""

PLACEHOLDERS = ("customer_name", "company", "score", "caller_name", "company_name", "comment")
OPTIONAL = frozenset({"company", "comment"})
"""Left out when unknown: the sentences that use them are written inside `{% if %}`."""

BLANKS = {
    "fr": {
        "customer_name": "[nom du client]",
        "score": "[note]",
        "caller_name": "[votre nom]",
        "company_name": "[notre société]",
    },
    "en": {
        "customer_name": "[customer name]",
        "score": "[score]",
        "caller_name": "[your name]",
        "company_name": "[our company]",
    },
}
"""What the caller reads where a required value is unknown: a visible blank to fill aloud."""

VALUE_MAX = 120
COMMENT_MAX = 300
_HEADING = re.compile(r"^## (?P<heading>.+?) \{#(?P<part>[a-z]+)\}$")
_SPACES = re.compile(r"\s+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class UnknownScript(ValueError):
    """No script for this category or language."""


@dataclass(frozen=True)
class Section:
    part: str
    heading: str
    paragraphs: tuple[str, ...]
    bullets: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "part": self.part,
            "heading": self.heading,
            "paragraphs": list(self.paragraphs),
            "bullets": list(self.bullets),
        }


@dataclass(frozen=True)
class Script:
    category: str
    language: str
    title: str
    sections: tuple[Section, ...]

    @property
    def key(self) -> str:
        """`<category>.<language>`, as a case stores it (`Case.script`)."""
        return f"{self.category}.{self.language}"

    def section(self, part: str) -> Section:
        return next(section for section in self.sections if section.part == part)

    def as_dict(self) -> dict[str, Any]:
        return {
            "script": self.key,
            "category": self.category,
            "language": self.language,
            "title": self.title,
            "sections": [section.as_dict() for section in self.sections],
        }


@dataclass(frozen=True)
class _SourceSection:
    part: str
    heading: str
    paragraphs: tuple[str, ...]
    bullets: tuple[str, ...]


@dataclass(frozen=True)
class _Source:
    title: str
    sections: tuple[_SourceSection, ...]


def load_script(category: str, language: str, **values: object) -> Script:
    """The script of a category in a language, filled with `values` (PLACEHOLDERS; a required
    one unknown or None shows as a blank such as "[customer name]", an optional one is left
    out). UnknownScript (a ValueError) for an unknown category, language or value name."""
    unknown = sorted(set(values) - set(PLACEHOLDERS))
    if unknown:
        raise UnknownScript(f"a script has no value {', '.join(unknown)}; it takes {', '.join(PLACEHOLDERS)}")
    compiled = _compiled(category, language)
    context = _context(language, values)
    sections = []
    for section in compiled.sections:
        sections.append(
            Section(
                part=section.part,
                heading=_render(section.heading, context),
                paragraphs=_render_all(section.paragraphs, context),
                bullets=_render_all(section.bullets, context),
            )
        )
    return Script(category, language, _render(compiled.title, context), tuple(sections))


def load_script_by_key(key: str, **values: object) -> Script:
    """The script a case names (`Case.script`, `<category>.<language>`)."""
    category, _, language = key.partition(".")
    return load_script(category, language, **values)


def script_key(category: str, language: str) -> str:
    """`<category>.<language>` of an existing script, the value `Case.script` holds."""
    _check(category, language)
    return f"{category}.{language}"


def parse_script(text: str) -> _Source:
    """The structure of a script's markdown; ValueError naming the line that breaks the subset."""
    title: str | None = None
    sections: list[_SourceSection] = []
    current: dict[str, Any] | None = None
    paragraph: list[str] = []
    last = ""  # kind of the previous non-blank line: "paragraph", "bullet" or "heading"

    def flush_paragraph() -> None:
        if paragraph:
            assert current is not None
            current["paragraphs"].append(" ".join(paragraph))
            paragraph.clear()

    def close_section() -> None:
        flush_paragraph()
        if current is not None:
            sections.append(
                _SourceSection(
                    current["part"], current["heading"], tuple(current["paragraphs"]), tuple(current["bullets"])
                )
            )

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            flush_paragraph()
            if last == "bullet":
                last = "gap"
            continue
        if line.startswith("# ") and title is None and current is None:
            title = line[2:].strip()
            last = "heading"
        elif line.startswith("#"):
            match = _HEADING.match(line)
            if match is None:
                raise ValueError(f"line {number}: a section heading is '## <heading> {{#<part>}}'")
            close_section()
            current = {"part": match["part"], "heading": match["heading"], "paragraphs": [], "bullets": []}
            last = "heading"
        elif current is None:
            raise ValueError(f"line {number}: text before the first section")
        elif line.startswith("- "):
            flush_paragraph()
            current["bullets"].append(line[2:].strip())
            last = "bullet"
        elif last == "bullet":
            current["bullets"][-1] += " " + line  # a bullet written on several lines
        elif current["bullets"]:
            raise ValueError(f"line {number}: a paragraph after the bullets of a section")
        else:
            paragraph.append(line)
            last = "paragraph"
    close_section()
    if title is None:
        raise ValueError("a script starts with '# <title>'")
    parts = tuple(section.part for section in sections)
    if parts != PARTS:
        raise ValueError(f"a script has the parts {', '.join(PARTS)} in this order, not {', '.join(parts)}")
    return _Source(title, tuple(sections))


@dataclass(frozen=True)
class _Compiled:
    title: Template
    sections: tuple[_CompiledSection, ...]


@dataclass(frozen=True)
class _CompiledSection:
    part: str
    heading: Template
    paragraphs: tuple[Template, ...]
    bullets: tuple[Template, ...]


def _check(category: str, language: str) -> None:
    if category not in CATEGORIES:
        raise UnknownScript(f"no call script for category {category!r}; categories are {', '.join(CATEGORIES)}")
    if language not in LANGUAGES:
        raise UnknownScript(f"no call script in language {language!r}; languages are {', '.join(LANGUAGES)}")


@lru_cache(maxsize=len(CATEGORIES) * len(LANGUAGES))
def _compiled(category: str, language: str) -> _Compiled:
    """Read, parse and compile a script once per container."""
    _check(category, language)
    path = templates_dir() / "scripts" / f"{category}.{language}.md"
    source = parse_script(path.read_text(encoding="utf-8"))
    env = environment()
    return _Compiled(
        title=env.from_string(source.title),
        sections=tuple(
            _CompiledSection(
                part=section.part,
                heading=env.from_string(section.heading),
                paragraphs=tuple(env.from_string(text) for text in section.paragraphs),
                bullets=tuple(env.from_string(text) for text in section.bullets),
            )
            for section in source.sections
        ),
    )


def _context(language: str, values: dict[str, object]) -> dict[str, str]:
    context = {}
    for name in PLACEHOLDERS:
        text = _clean(values.get(name), COMMENT_MAX if name == "comment" else VALUE_MAX)
        if not text and name not in OPTIONAL:
            text = BLANKS[language][name]
        context[name] = text
    return context


def _clean(value: object, limit: int) -> str:
    """A value as one line of plain text: no control characters, whitespace collapsed, cut at
    `limit` characters with an ellipsis."""
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        value = int(value)
    text = _SPACES.sub(" ", _CONTROL.sub(" ", str(value))).strip()
    if len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _render(template: Template, context: dict[str, str]) -> str:
    return _SPACES.sub(" ", template.render(context)).strip()


def _render_all(templates: tuple[Template, ...], context: dict[str, str]) -> tuple[str, ...]:
    """Rendered pieces; one that renders empty (all of it inside an `{% if %}`) is left out."""
    return tuple(text for text in (_render(template, context) for template in templates) if text)
