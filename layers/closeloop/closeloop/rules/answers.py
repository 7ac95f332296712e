"""What a customer sends from the survey page, made safe to store: the score, the comment. Pure.

A score is one of the eleven links' values, written exactly so ("0" to "10"). A comment is kept
as the person typed it, less what no reader needs: surrounding blanks, control characters (line
breaks and tabs stay), the invisible characters that reorder text on screen; line ends become
"\n" and the text is in Unicode NFC, so its length is what a reader counts.
"""

from __future__ import annotations

import re
import unicodedata

SCORE_TEXT = re.compile(r"^(?:10|[0-9])$")
TRAP = "trap"

# Bidirectional embeddings, overrides and isolates: they can make a comment read otherwise on a
# staff member's screen than it was typed.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_KEPT_CONTROLS = frozenset("\n\t")


class InvalidAnswer(ValueError):
    """The answer cannot be stored; `code` says why (`score`, `comment_too_long`)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_score(text: str | None) -> int:
    """The score a form or a link gives, 0 to 10; InvalidAnswer for anything else."""
    value = (text or "").strip()
    if not SCORE_TEXT.match(value):
        raise InvalidAnswer("score", "a score is a whole number from 0 to 10")
    return int(value)


def is_score_text(text: str) -> bool:
    return bool(SCORE_TEXT.match(text))


def clean_comment(text: str | None, max_chars: int) -> str | None:
    """The comment as it is stored (None when nothing is left of it); InvalidAnswer when it is
    longer than `max_chars` characters once cleaned."""
    if text is None:
        return None
    normalised = unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))
    kept = "".join(
        char
        for char in normalised
        if char in _KEPT_CONTROLS or (unicodedata.category(char) != "Cc" and char not in _BIDI_CONTROLS)
    )
    lines = [line.rstrip() for line in kept.strip().split("\n")]
    cleaned = "\n".join(lines).strip()
    if len(cleaned) > max_chars:
        raise InvalidAnswer("comment_too_long", f"a comment has at most {max_chars} characters")
    return cleaned or None
