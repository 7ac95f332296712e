"""Helpers shared by the test suites: paths, sample events, the template's routes."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from cfnlint.decode import decode_str

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "template.yaml"


def load_event(name: str, **changes: Any) -> dict[str, Any]:
    """A sample event from events/ (a fresh copy), with top-level keys replaced."""
    event = json.loads((ROOT / "events" / name).read_text())
    event.update(changes)
    return event


@cache
def _template() -> dict[str, Any]:
    decoded, matches = decode_str(TEMPLATE.read_text())
    assert not matches, matches
    return decoded


def template() -> dict[str, Any]:
    """template.yaml as a plain dict (intrinsic functions left as they are)."""
    return copy.deepcopy(_template())


def http_routes() -> dict[str, dict[str, Any]]:
    """Every HttpApi route of the template: "METHOD /path" -> {function, auth}."""
    routes: dict[str, dict[str, Any]] = {}
    for logical_id, resource in template()["Resources"].items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "HttpApi":
                continue
            props = event["Properties"]
            key = f"{props['Method'].upper()} {props['Path']}"
            authorizer = (props.get("Auth") or {}).get("Authorizer", "default")
            routes[key] = {"function": logical_id, "public": authorizer == "NONE"}
    return routes
