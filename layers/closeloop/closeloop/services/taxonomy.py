"""The irritant taxonomy managers keep (docs/data-model.md 4.19): tags with their labels in French
and English and the department that owns each. Read by one Scan, kept 5 minutes per container;
a tag is deactivated, never deleted (counters are keyed by it). Messages are in the `reader`'s
language (English when not given)."""

from __future__ import annotations

import re
import time
from typing import Any

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from closeloop import clock
from closeloop.errors import Conflict, InvalidInput, NotFound
from closeloop.models import Taxonomy
from closeloop.rules.contact_fields import Language

CACHE_SECONDS = 300.0
SLUG = re.compile(r"^[a-z0-9_-]{1,40}$")
LABEL_MAX = 80

_cache: tuple[float, dict[str, Taxonomy]] | None = None


def _say(reader: Language, english: str, french: str) -> str:
    """The message in the reader's language."""
    return french if reader == "fr" else english


def forget() -> None:
    """Drop the cached taxonomy (after a change in this container, and in tests)."""
    global _cache  # noqa: PLW0603 - one cache per container
    _cache = None


def all_tags(*, fresh: bool = False) -> dict[str, Taxonomy]:
    """Every tag, active or not, by slug (one Scan at most every 5 minutes per container, unless
    `fresh`: the list a manager edits from, with each tag's version, is read at once)."""
    global _cache  # noqa: PLW0603
    now = time.monotonic()
    if fresh or _cache is None or now - _cache[0] > CACHE_SECONDS:
        _cache = (now, {item.tag: item for item in Taxonomy.scan()})
    return _cache[1]


def tags_for(wanted: frozenset[str] | set[str]) -> dict[str, Taxonomy]:
    """Every tag, read afresh when the cached copy lacks one of `wanted` or holds one of them
    inactive: a tag a manager just added or retired in another container is seen at once."""
    tags = all_tags()
    if any(tag not in tags or not tags[tag].active for tag in wanted):
        forget()
        tags = all_tags()
    return tags


def active_tags() -> frozenset[str]:
    return frozenset(tag for tag, item in all_tags().items() if item.active)


def tag_view(item: Taxonomy) -> dict[str, Any]:
    return {
        "tag": item.tag,
        "label_fr": item.label_fr,
        "label_en": item.label_en,
        "department": item.department,
        "active": bool(item.active),
        "version": item.version,
    }


def _label(value: str | None, name: str, reader: Language) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text or len(text) > LABEL_MAX or "\n" in text:
        raise InvalidInput(
            _say(
                reader,
                f"{name} is one line of 1 to {LABEL_MAX} characters",
                f"{name} tient sur une ligne de 1 à {LABEL_MAX} caractères",
            )
        )
    return text


def _department(value: str | None, reader: Language) -> str | None:
    if value is None or value == "":
        return None
    if not SLUG.match(value):
        raise InvalidInput(
            _say(
                reader,
                "department is a slug: 1 to 40 of a-z, 0-9, _ and -",
                "department est un identifiant : 1 à 40 caractères parmi a-z, 0-9, _ et -",
            )
        )
    return value


def add_tag(
    *, tag: str, label_fr: str, label_en: str, department: str | None = None, reader: Language = "en"
) -> Taxonomy:
    """A new active tag; Conflict when the slug exists (active or not: reactivate it instead)."""
    if not SLUG.match(tag):
        raise InvalidInput(
            _say(
                reader,
                "a tag is a slug: 1 to 40 of a-z, 0-9, _ and -",
                "une étiquette est un identifiant : 1 à 40 caractères parmi a-z, 0-9, _ et -",
            )
        )
    item = Taxonomy(
        tag,
        label_fr=_label(label_fr, "label_fr", reader),
        label_en=_label(label_en, "label_en", reader),
        department=_department(department, reader),
        active=True,
    )
    try:
        item.save(condition=Taxonomy.tag.does_not_exist())
    except PutError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict(
                _say(
                    reader,
                    f"the tag {tag} exists already (edit it, or set it active again)",
                    f"l'étiquette {tag} existe déjà (modifiez-la, ou réactivez-la)",
                )
            ) from error
        raise
    forget()
    return item


def edit_tag(
    tag: str,
    *,
    version: int,
    label_fr: str | None = None,
    label_en: str | None = None,
    department: str | None = None,
    active: bool | None = None,
    reader: Language = "en",
) -> Taxonomy:
    """Change a tag's labels, department or state; Conflict when it changed since `version` was read.
    `department` "" removes it."""
    try:
        item = Taxonomy.get(tag, consistent_read=True)
    except DoesNotExist as error:
        raise NotFound(_say(reader, f"no such tag: {tag}", f"cette étiquette n'existe pas : {tag}")) from error
    actions: list[Any] = [Taxonomy.updated_at.set(clock.now())]
    fr, en = _label(label_fr, "label_fr", reader), _label(label_en, "label_en", reader)
    if fr is not None:
        actions.append(Taxonomy.label_fr.set(fr))
    if en is not None:
        actions.append(Taxonomy.label_en.set(en))
    if department is not None:
        owner = _department(department, reader)
        actions.append(Taxonomy.department.set(owner) if owner else Taxonomy.department.remove())
    if active is not None:
        actions.append(Taxonomy.active.set(active))
    item.version = version
    try:
        item.update(actions=actions)
    except UpdateError as error:
        if error.cause_response_code == "ConditionalCheckFailedException":
            raise Conflict(
                _say(
                    reader,
                    "the tag changed since it was read: reload it",
                    "l'étiquette a changé depuis que vous l'avez lue : rechargez-la",
                )
            ) from error
        raise
    forget()
    return item
