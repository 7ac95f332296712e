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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from closeloop_local import moto_taps
from closeloop_local.patterns import EventPattern, InvalidPatternError

if TYPE_CHECKING:
    from closeloop_local.runtime import Runtime

log = logging.getLogger(__name__)

RETRY_DELAYS = (1.0, 2.0)  # Lambda retries an asynchronous event twice (after about 1 and 2 minutes)
DELIVERY_THREADS = 8
_FUNCTION = "AWS::Serverless::Function"
_RULE = "AWS::Events::Rule"

Invoke = Callable[[str, dict[str, Any]], Any]
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
        self.invoke = invoke
        self.stopping = stopping
        self.rules: list[Rule] = []
        self._pending = 0
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._forget: Callable[[], None] | None = None

    def start(self) -> None:
        self.rules = declared_rules(self.runtime)
        self._pool = ThreadPoolExecutor(max_workers=DELIVERY_THREADS, thread_name_prefix="eventbridge")
        if self.rules:
            self._forget = moto_taps.listen(self.runtime.moto_port_in_use, on_put=self._on_put)

    def stop(self) -> None:
        if self._forget is not None:
            self._forget()
            self._forget = None
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        with self._lock:
            self._pending = 0

    def settled(self) -> bool:
        """No event waits or is being delivered."""
        with self._lock:
            return self._pending == 0

    def submit(self, build: Callable[[], list[Routed]]) -> None:
        """Deliver the events `build` makes, in their order, on a delivery thread (never blocks)."""
        pool = self._pool
        if pool is None or self.stopping.is_set():
            return
        with self._lock:
            self._pending += 1
        try:
            pool.submit(self._deliver_all, build)
        except RuntimeError:  # the pool is shutting down
            with self._lock:
                self._pending -= 1

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
        try:
            for bus, event in build():
                self.route(bus, event)
        except Exception:
            log.exception("events could not be routed")
        finally:
            with self._lock:
                self._pending -= 1

    def matching(self, bus: str, event: Mapping[str, Any]) -> list[Rule]:
        return [rule for rule in self.rules if rule.bus == bus and rule.pattern.matches(event)]

    def route(self, bus: str, event: dict[str, Any]) -> int:
        """Deliver `event` to each function whose rule matches it, now; how many rules matched."""
        found = self.matching(bus, event)
        for rule in found:
            self._invoke_with_retries(rule, event)
        return len(found)

    def _invoke_with_retries(self, rule: Rule, event: dict[str, Any]) -> None:
        what = f"{event.get('detail-type')} {event.get('id')}"
        try:
            payload = rule.payload(event)
        except (ValueError, TypeError) as exc:
            log.warning("%s: cannot build the input of %s, not delivered: %s", rule.name, what, exc)
            return
        for attempt, delay in enumerate((0.0, *RETRY_DELAYS)):
            if delay and self.stopping.wait(delay):
                return
            result = self.invoke(rule.function_id, payload)
            if result.ok:
                log.info("%s: %s delivered", rule.name, what)
                return
            log.warning("%s: %s failed (attempt %d): %s", rule.name, what, attempt + 1, result.error)
        log.error("%s: %s dropped after %d attempts", rule.name, what, 1 + len(RETRY_DELAYS))


def _time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
