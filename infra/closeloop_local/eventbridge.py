"""EventBridge rules with function targets, emulated in one place: the router.

Rules come from the template: a function's SAM `Events: Type: EventBridgeRule` (`Pattern`,
`EventBusName` (default bus if absent), `Input` or `InputPath`, `State`) and `AWS::Events::Rule`
resources with an `EventPattern` and function targets (`Targets[].Arn`, `Input`, `InputPath`,
`State` ENABLED by default). moto refuses rules whose target is a function, so none of them
exists in moto: the router matches events itself, with patterns.py.

Events reach the router from two places: the product's own `PutEvents` (moto_taps.py hands over
each entry moto accepted, with its id, after moto has delivered it to the targets it supports,
an SQS queue for instance), and the SES events the runtime emits (ses_events.py). Each event is
shaped as EventBridge delivers it: version, id, detail-type, source, account, time, region,
resources, detail.

Delivery is asynchronous, as EventBridge invokes Lambda: a pool of threads, one task per batch of
events (the events of one email stay in their order); a failed invocation is tried twice more
(after 1 and 2 seconds here). `settled()` tells drain() whether a task waits or runs.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from closeloop_local import moto_taps
from closeloop_local.async_invoke import AsyncInvocations, Invoke
from closeloop_local.patterns import EventPattern, InvalidPatternError

if TYPE_CHECKING:
    from closeloop_local.runtime import Runtime

log = logging.getLogger(__name__)

DELIVERY_THREADS = 8
_FUNCTION = "AWS::Serverless::Function"
_RULE = "AWS::Events::Rule"

Routed = tuple[str, dict[str, Any]]
"""An event and the name of the bus it is put on."""


@dataclass(frozen=True)
class Rule:
    """One rule of the template: events of `bus` that match `pattern` go to `function_id`."""

    name: str
    bus: str
    pattern: EventPattern
    function_id: str
    input: str | None = None
    input_path: str | None = None

    def payload(self, event: dict[str, Any]) -> Any:
        """What the target receives: the event, its `Input` constant, or the part `InputPath` names."""
        if self.input is not None:
            return json.loads(self.input)
        if self.input_path:
            return json_path(event, self.input_path)
        return event


def json_path(document: Any, path: str) -> Any:
    """The value a simple JSONPath (`$`, `$.detail`, `$.detail.items[0]`) names; None if absent."""
    if not path.startswith("$"):
        raise ValueError(f"InputPath {path!r} must start with $")
    value = document
    for part in path[1:].replace("[", ".[").split("."):
        if not part:
            continue
        if part.startswith("[") and part.endswith("]"):
            index = int(part[1:-1])
            value = value[index] if isinstance(value, list) and -len(value) <= index < len(value) else None
        else:
            value = value.get(part) if isinstance(value, Mapping) else None
    return value


def _enabled(props: Mapping[str, Any]) -> bool:
    return str(props.get("State", "ENABLED")).upper() == "ENABLED"


def _input(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _pattern(where: str, value: Any) -> EventPattern:
    try:
        return EventPattern(value)
    except InvalidPatternError as exc:
        raise RuntimeError(f"{where}: {exc}") from exc


def declared_rules(runtime: Runtime) -> list[Rule]:
    """Every enabled rule of the template whose target is one of its functions."""
    template = runtime.template
    rules: list[Rule] = []
    for function_id, spec in template.functions.items():
        for name, event in spec.events.items():
            if event.get("Type") != "EventBridgeRule":
                continue
            props = event.get("Properties") or {}
            where = f"function {function_id} event {name}"
            if "Pattern" not in props:
                raise RuntimeError(f"{where}: an EventBridgeRule needs a Pattern")
            if "InputTransformer" in props:
                raise RuntimeError(f"{where}: InputTransformer is not emulated locally")
            if _enabled(props):
                rules.append(
                    Rule(
                        f"{function_id}.{name}",
                        moto_taps.bus_name(props.get("EventBusName")),
                        _pattern(where, props["Pattern"]),
                        function_id,
                        _input(props.get("Input")),
                        props.get("InputPath"),
                    )
                )
    by_arn = {runtime.arn(function_id): function_id for function_id in template.functions}
    for logical_id, resource in template.resources.items():
        if resource.type != _RULE:
            continue
        props = resource.properties
        where = f"rule {logical_id}"
        if "EventPattern" not in props:
            log.warning("%s: only rules with an EventPattern are emulated (use a Schedule event)", where)
            continue
        pattern = _pattern(where, props["EventPattern"])
        for target in props.get("Targets") or []:
            target_function = by_arn.get(str(target.get("Arn", "")).removesuffix(":$LATEST"))
            if target_function is None:
                log.warning("%s: target %s is not a function of the template, not delivered", where, target.get("Id"))
                continue
            if "InputTransformer" in target:
                raise RuntimeError(f"{where}: InputTransformer is not emulated locally")
            if _enabled(props):
                rules.append(
                    Rule(
                        f"{logical_id}.{target.get('Id', target_function)}",
                        moto_taps.bus_name(props.get("EventBusName")),
                        pattern,
                        target_function,
                        _input(target.get("Input")),
                        target.get("InputPath"),
                    )
                )
    return rules


def iso_z(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(
    *,
    source: str,
    detail_type: str,
    detail: Any,
    account: str,
    region: str,
    at: datetime,
    resources: Sequence[str] = (),
    event_id: str | None = None,
) -> dict[str, Any]:
    """An event as EventBridge delivers it to a target."""
    return {
        "version": "0",
        "id": event_id or str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": iso_z(at),
        "region": region,
        "resources": list(resources),
        "detail": detail,
    }


class EventRouter:
    """The template's rules, and the threads that deliver matching events to their functions."""

    def __init__(self, runtime: Runtime, invoke: Invoke, stopping: threading.Event) -> None:
        self.runtime = runtime
        self.deliveries = AsyncInvocations(invoke, stopping, name="eventbridge", threads=DELIVERY_THREADS)
        self.rules: list[Rule] = []
        self._forget: Callable[[], None] | None = None

    def start(self) -> None:
        self.rules = declared_rules(self.runtime)
        self.deliveries.start()
        if self.rules:
            self._forget = moto_taps.listen(self.runtime.moto_port_in_use, on_put=self._on_put)

    def stop(self) -> None:
        if self._forget is not None:
            self._forget()
            self._forget = None
        self.deliveries.stop()

    def settled(self) -> bool:
        """No event waits or is being delivered."""
        return self.deliveries.settled()

    def submit(self, build: Callable[[], list[Routed]]) -> None:
        """Deliver the events `build` makes, in their order, on a delivery thread (never blocks)."""
        self.deliveries.submit(lambda: self._deliver_all(build))

    def publish(self, events: list[Routed]) -> None:
        self.submit(lambda: events)

    def _on_put(self, entries: list[moto_taps.PutEntry]) -> None:
        """The product's PutEvents (on moto's request thread: only queue them)."""
        at = self.runtime.clock.now()
        self.publish(
            [
                (
                    entry.bus,
                    envelope(
                        source=entry.source,
                        detail_type=entry.detail_type,
                        detail=entry.detail,
                        account=entry.account,
                        region=entry.region,
                        at=_time(entry.time) or at,
                        resources=entry.resources,
                        event_id=entry.event_id,
                    ),
                )
                for entry in entries
            ]
        )

    def _deliver_all(self, build: Callable[[], list[Routed]]) -> None:
        for bus, event in build():
            self.route(bus, event)

    def matching(self, bus: str, event: Mapping[str, Any]) -> list[Rule]:
        return [rule for rule in self.rules if rule.bus == bus and rule.pattern.matches(event)]

    def route(self, bus: str, event: dict[str, Any]) -> int:
        """Deliver `event` to each function whose rule matches it, now; how many rules matched."""
        found = self.matching(bus, event)
        for rule in found:
            what = f"{rule.name}: {event.get('detail-type')} {event.get('id')}"
            try:
                payload = rule.payload(event)
            except (ValueError, TypeError) as exc:
                log.warning("%s: cannot build the input, not delivered: %s", what, exc)
                continue
            self.deliveries.invoke_with_retries(rule.function_id, payload, what)
        return len(found)


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
