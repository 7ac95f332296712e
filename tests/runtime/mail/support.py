"""Reading what the mail stack's functions received."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from closeloop_local.runtime import Runtime


@dataclass(frozen=True)
class Seen:
    """One event a function of the stack received."""

    kind: str
    at_ns: int
    event: Any
    stored_size: int | None


def seen(runtime: Runtime, kind: str) -> list[Seen]:
    """What the functions of `kind` received, in the order they received it."""
    dynamodb = runtime.client("dynamodb")
    items: list[dict[str, Any]] = []
    pages = dynamodb.get_paginator("scan").paginate(TableName=runtime.physical_name("SeenTable"))
    for page in pages:
        items += page["Items"]
    found = [
        Seen(
            item["kind"]["S"],
            int(item["at_ns"]["N"]),
            json.loads(item["event"]["S"]),
            int(item["stored_size"]["S"]) if "stored_size" in item else None,
        )
        for item in items
        if item["kind"]["S"] == kind
    ]
    return sorted(found, key=lambda s: s.at_ns)
