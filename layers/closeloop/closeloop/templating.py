"""The Jinja2 environment of templates/ (emails, pages), found in the layer or in the repository.

`sam build` copies the repository's top-level templates/ into the layer's package
(closeloop/templates); in the development environment the package sits in the repository and
the templates are read where they are.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

_PACKAGE = Path(__file__).resolve().parent


def templates_dir() -> Path:
    """The templates folder: the layer's copy, else the repository's (layers/closeloop/closeloop -> top)."""
    for candidate in (_PACKAGE / "templates", _PACKAGE.parents[2] / "templates"):
        if (candidate / "emails").is_dir():
            return candidate
    raise FileNotFoundError("templates/ is neither in the layer nor in the repository")


@lru_cache(maxsize=1)
def environment() -> Environment:
    """One environment per container: HTML templates autoescaped, undefined names an error."""
    return Environment(
        loader=FileSystemLoader(str(templates_dir())),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
