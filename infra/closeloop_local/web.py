"""An HTTP request and answer as the local gateway handles them, apart from any server."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class HttpRequest:
    method: str
    raw_path: str
    raw_query: str
    headers: list[tuple[str, str]]
    body: bytes
    source_ip: str
    protocol: str = "HTTP/1.1"

    def header(self, name: str) -> str | None:
        """The header's values joined by commas (as HTTP allows), or None if it was not sent."""
        values = [value for key, value in self.headers if key.lower() == name.lower()]
        return ",".join(values) if values else None

    def json(self) -> Any:
        """The body as JSON (an empty body reads as an empty object); ValueError if it is not JSON."""
        return json.loads(self.body) if self.body.strip() else {}


@dataclass
class HttpResponse:
    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


def json_response(status: int, body: Any, headers: Iterable[tuple[str, str]] = ()) -> HttpResponse:
    return HttpResponse(status, [("content-type", "application/json"), *headers], json.dumps(body).encode())


LocalHandler = Callable[[HttpRequest, dict[str, str]], HttpResponse]
"""A route of the runtime's own under /_local/: the request and its path parameters -> the answer."""
