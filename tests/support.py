"""Helpers shared by the test suites: paths, sample events, the template's routes."""

from __future__ import annotations

import copy
import importlib.util
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
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


@dataclass
class LambdaContext:
    """The context object Lambda hands a handler, as far as Powertools reads it."""

    function_name: str = "test-function"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:test-function"
    aws_request_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    log_group_name: str = "/aws/lambda/test-function"
    log_stream_name: str = "2026/11/22/[$LATEST]test"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def load_handler(function: str) -> Callable[[dict[str, Any], Any], Any]:
    """The lambda_handler of functions/<function>/app.py, imported under a name of its own."""
    path = ROOT / "functions" / function / "app.py"
    spec = importlib.util.spec_from_file_location(f"function_{function}_app", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: Callable[[dict[str, Any], Any], Any] = module.lambda_handler
    return handler
