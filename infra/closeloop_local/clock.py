"""The local runtime's domain clock: real time plus an offset, moved forward on demand, firing schedules.

Schedules come from sources (ScheduleSource): one per schedule declared in the template
(EventBridge rules, Scheduler schedules, SAM Schedule and ScheduleV2 events) and one for the
schedules created at run time through the Scheduler API, which moto stores but never fires.
Firing is serialised by one lock and each source has a watermark (what has been fired up to), so
the ticker (real time) and advance() (time travel) never fire an occurrence twice nor skip one.

Two things are simplified: the flexible time window is ignored (an occurrence fires at its exact
time), and a function error is logged, not retried as Lambda's asynchronous invocation would.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

import isodate
from botocore.exceptions import BotoCoreError, ClientError

from closeloop_local import cron

if TYPE_CHECKING:
    from closeloop_local.runtime import Runtime

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
DRAIN_TIMEOUT_SECONDS = 30.0
# TTL deletion lags on AWS (up to days); locally the sweep scans every TTL table, so it runs at
# most once a domain minute while time runs, once a domain hour while the clock jumps, and always
# at the end of a jump (a test or a demo reads exact expiries there).
TTL_SWEEP_EVERY = timedelta(minutes=1)
TTL_SWEEP_EVERY_IN_A_JUMP = timedelta(hours=1)
# Powertools idempotency expires its records on real time (its own default attribute name).
REAL_TIME_TTL_ATTRIBUTE = "expiration"


@dataclass(frozen=True)
class Occurrence:
    """One schedule falling due: which function gets which event, and when."""

    at: datetime
    function_id: str
    source: str
    kind: str
    event: dict[str, Any]


class ScheduleSource(Protocol):
    """Where occurrences come from. The clock asks, fires, then says so."""

    name: str

    def next_due(self, after: datetime, until: datetime) -> Occurrence | None:
        """The earliest occurrence in (after, until]; `after` is this source's watermark."""

    def fired(self, occurrence: Occurrence) -> None:
        """Called once `occurrence` has been fired (a one-time schedule is then done)."""


# ------------------------------------------------------------------ the events the targets get


def _iso_z(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def rule_event(
    input_text: str | None, rule_arn: str, account: str, region: str
) -> Callable[[datetime], dict[str, Any]]:
    """An EventBridge scheduled rule's event: its constant Input, else the Scheduled Event envelope."""

    def build(at: datetime) -> dict[str, Any]:
        if input_text is not None:
            return json.loads(input_text)  # type: ignore[no-any-return]
        return {
            "version": "0",
            "id": str(uuid.uuid4()),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": account,
            "time": _iso_z(at),
            "region": region,
            "resources": [rule_arn],
            "detail": {},
        }

    return build


def scheduler_event(
    input_text: str | None, schedule_arn: str, account: str, region: str
) -> Callable[[datetime], dict[str, Any]]:
    """What EventBridge Scheduler sends a Lambda target.

    The Input as is, with the context attributes substituted; without an Input, Scheduler's
    default notification: the Scheduled Event envelope from aws.scheduler, whose detail is the
    string "{}".
    """

    def build(at: datetime) -> dict[str, Any]:
        if input_text is None:
            return {
                "version": "0",
                "id": str(uuid.uuid4()),
                "detail-type": "Scheduled Event",
                "source": "aws.scheduler",
                "account": account,
                "time": _iso_z(at),
                "region": region,
                "resources": [schedule_arn],
                "detail": "{}",
            }
        text = input_text
        for keyword, value in {
            "<aws.scheduler.scheduled-time>": _iso_z(at),
            "<aws.scheduler.execution-id>": secrets.token_hex(8),
            "<aws.scheduler.schedule-arn>": schedule_arn,
            "<aws.scheduler.attempt-number>": "1",
        }.items():
            text = text.replace(keyword, value)
        return json.loads(text)  # type: ignore[no-any-return]

    return build


# ------------------------------------------------------------------ schedules of the template


@dataclass
class DeclaredSchedule:
    """A schedule written in the template: it fires for as long as the runtime runs."""

    name: str
    kind: str
    function_id: str
    schedule: cron.Schedule
    make_event: Callable[[datetime], dict[str, Any]]
    tz: str = "UTC"
    anchor: datetime | None = None
    start: datetime | None = None
    end: datetime | None = None

    def next_due(self, after: datetime, until: datetime) -> Occurrence | None:
        if self.start is not None and self.start > after:
            after = self.start - timedelta(microseconds=1)
        if self.end is not None:
            until = min(until, self.end)
        if until <= after:
            return None
        anchor = self.anchor if self.start is None else self.start
        at = next(self.schedule.occurrences(after, until, tz=self.tz, anchor=anchor), None)
        if at is None:
            return None
        return Occurrence(at, self.function_id, self.name, self.kind, self.make_event(at))

    def fired(self, occurrence: Occurrence) -> None:
        """Nothing to do: the watermark is enough for a recurring schedule."""


def _enabled(props: Mapping[str, Any]) -> bool:
    if str(props.get("Enabled", True)).lower() == "false":
        return False
    return str(props.get("State", "ENABLED")).upper() != "DISABLED"


def _date(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _minute(at: datetime) -> datetime:
    """Where rate() counts from: the minute (Scheduler fires with a 60-second precision)."""
    return at.replace(second=0, microsecond=0)


def _input(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else json.dumps(value)


def _arn_parts(arn: str) -> tuple[str, str]:
    """(account, region) of an ARN."""
    parts = arn.split(":")
    return parts[4], parts[3]


def _function_arn(arn: str) -> str:
    """A Lambda ARN without its version or alias qualifier."""
    return ":".join(arn.split(":")[:7])


def declared_schedules(runtime: Runtime, started: datetime) -> tuple[list[DeclaredSchedule], frozenset[str]]:
    """The template's enabled schedules that target its functions, and the ARNs of all its
    Scheduler schedules (enabled or not), which the Scheduler API source must leave alone."""
    functions = runtime.template.functions
    if not functions:
        return [], frozenset()
    started = _minute(started)
    by_arn = {_function_arn(runtime.arn(fid)): fid for fid in functions}
    account, region = _arn_parts(runtime.arn(next(iter(functions))))
    found: list[DeclaredSchedule] = []
    scheduler_arns: set[str] = set()

    def add(source: str, kind: str, fid: str | None, name: str, props: Mapping[str, Any]) -> None:
        try:
            if kind == "Schedule":
                rule_arn = f"arn:aws:events:{region}:{account}:rule/{name}"
                schedule = cron.parse(props["Schedule"])
                make_event = rule_event(_input(props.get("Input")), rule_arn, account, region)
                tz, start, end = "UTC", None, None
            else:
                arn = scheduler_arn(region, account, props.get("GroupName") or "default", name)
                scheduler_arns.add(arn)
                schedule = cron.parse(props["ScheduleExpression"])
                make_event = scheduler_event(_input(props.get("Input")), arn, account, region)
                tz = props.get("ScheduleExpressionTimezone") or "UTC"
                cron.zone(tz)
                start, end = _date(props.get("StartDate")), _date(props.get("EndDate"))
        except (KeyError, ValueError) as exc:
            raise ValueError(f"schedule {source}: {exc}") from exc
        if fid is None:
            log.warning("schedule %s: only Lambda targets of this template are fired locally", source)
        elif _enabled(props):
            found.append(DeclaredSchedule(source, kind, fid, schedule, make_event, tz, started, start, end))

    for fid, spec in functions.items():
        for event_name, event in spec.events.items():
            kind = event.get("Type")
            if kind in ("Schedule", "ScheduleV2"):
                props = event.get("Properties") or {}
                add(f"{fid}.{event_name}", kind, fid, props.get("Name") or f"{fid}{event_name}", props)
    for logical_id, resource in runtime.template.resources.items():
        if resource.type == "AWS::Scheduler::Schedule":
            target = resource.properties.get("Target") or {}
            fid = by_arn.get(_function_arn(str(target.get("Arn", ""))))
            props = {**resource.properties, "Input": target.get("Input")}
            add(logical_id, resource.type, fid, props.get("Name") or logical_id, props)
    return found, frozenset(scheduler_arns)


def scheduler_arn(region: str, account: str, group: str, name: str) -> str:
    return f"arn:aws:scheduler:{region}:{account}:schedule/{group}/{name}"


# ------------------------------------------------------------------ schedules created at run time


@dataclass
class SchedulerApiSource:
    """Schedules created through the Scheduler API (moto keeps them, this fires them).

    A one-time at() schedule fires once (late if it was created already due) and is then deleted
    when its ActionAfterCompletion is DELETE; a recurring one counts from when this source first
    saw it (`now`, the domain time). Each schedule keeps its own progress rather than the source's
    watermark, so two falling due together both fire. The template's own Scheduler schedules
    (`declared_arns`) are left to their sources.
    """

    runtime: Runtime
    declared_arns: frozenset[str]
    now: Callable[[], datetime]
    name: str = "scheduler-api"
    _functions: dict[str, str] = field(default_factory=dict)
    _details: dict[str, tuple[Any, dict[str, Any]]] = field(default_factory=dict)
    _first_seen: dict[str, datetime] = field(default_factory=dict)
    _last_fired: dict[str, datetime] = field(default_factory=dict)
    _done: set[tuple[str, Any]] = field(default_factory=set)
    _warned: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._functions = {_function_arn(self.runtime.arn(fid)): fid for fid in self.runtime.template.functions}

    def next_due(
        self,
        after: datetime,  # noqa: ARG002 - each schedule keeps its own progress
        until: datetime,
    ) -> Occurrence | None:
        best: Occurrence | None = None
        for schedule in self._schedules():
            self._first_seen.setdefault(schedule["Arn"], self.now())
            occurrence = self._next(schedule, until)
            if occurrence is not None and (best is None or occurrence.at < best.at):
                best = occurrence
        return best

    def fired(self, occurrence: Occurrence) -> None:
        arn = occurrence.source
        version, schedule = self._details[arn]
        self._last_fired[arn] = occurrence.at
        if schedule["ScheduleExpression"].startswith("at("):
            self._done.add((arn, version))
            if schedule.get("ActionAfterCompletion") == "DELETE":
                with contextlib.suppress(ClientError):
                    self.runtime.client("scheduler").delete_schedule(
                        Name=schedule["Name"], GroupName=schedule["GroupName"]
                    )

    def _next(self, schedule: dict[str, Any], until: datetime) -> Occurrence | None:
        arn = schedule["Arn"]
        if schedule.get("State", "ENABLED") != "ENABLED" or arn in self.declared_arns:
            return None
        fid = self._functions.get(_function_arn(schedule["Target"]["Arn"]))
        if fid is None:
            if arn not in self._warned:
                self._warned.add(arn)
                log.warning("schedule %s: only Lambda targets of this template are fired locally", arn)
            return None
        tz = schedule.get("ScheduleExpressionTimezone") or "UTC"
        try:
            expression = cron.parse(schedule["ScheduleExpression"])
            if isinstance(expression, cron.At):
                at: datetime | None = expression.instant(tz)
                if (arn, self._details[arn][0]) in self._done or at is None or at > until:
                    return None
            else:
                start = _date(schedule.get("StartDate"))
                after = self._last_fired.get(arn, self._first_seen[arn])
                if start is not None and start > after:
                    after = start - timedelta(microseconds=1)
                end = _date(schedule.get("EndDate"))
                bound = until if end is None else min(until, end)
                anchor = start or _minute(self._first_seen[arn])
                at = next(expression.occurrences(after, bound, tz=tz, anchor=anchor), None)
        except ValueError:
            log.warning("schedule %s: cannot read %r", arn, schedule["ScheduleExpression"])
            return None
        if at is None:
            return None
        account, region = _arn_parts(arn)
        event = scheduler_event(_input(schedule["Target"].get("Input")), arn, account, region)(at)
        return Occurrence(at, fid, arn, "SchedulerApi", event)

    def _schedules(self) -> Iterator[dict[str, Any]]:
        """Every schedule, with its details (fetched again only when it changed)."""
        client = self.runtime.client("scheduler")
        try:
            for page in client.get_paginator("list_schedules").paginate():
                for summary in page["Schedules"]:
                    arn, version = summary["Arn"], summary.get("LastModificationDate")
                    cached = self._details.get(arn)
                    if cached is None or cached[0] != version:
                        detail = client.get_schedule(Name=summary["Name"], GroupName=summary["GroupName"])
                        self._details[arn] = (version, detail)
                    yield self._details[arn][1]
        except (ClientError, BotoCoreError) as exc:
            log.warning("cannot list the Scheduler's schedules: %s", exc)


# ------------------------------------------------------------------ TTL


@dataclass(frozen=True)
class TtlTable:
    name: str
    attribute: str
    keys: tuple[str, ...]


class TtlSweeper:
    """Deletes expired items, which moto never does, for the tables with TTL enabled.

    Items expire on the domain clock, except where the TTL attribute is Powertools idempotency's
    `expiration`, which expires on real time as that library expects. Deletions are immediate
    (DynamoDB may take days), which keeps tests and demos readable.
    """

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self.tables: list[TtlTable] = []
        for logical_id, resource in runtime.template.resources.items():
            spec = resource.properties.get("TimeToLiveSpecification") or {}
            if resource.type != "AWS::DynamoDB::Table" or str(spec.get("Enabled")).lower() != "true":
                continue
            keys = tuple(k["AttributeName"] for k in resource.properties.get("KeySchema", []))
            self.tables.append(TtlTable(runtime.physical_name(logical_id), spec["AttributeName"], keys))

    def sweep(self, domain_now: datetime) -> int:
        """Delete every item whose TTL (epoch seconds) has passed; the number deleted."""
        deleted = 0
        for table in self.tables:
            now = datetime.now(UTC) if table.attribute == REAL_TIME_TTL_ATTRIBUTE else domain_now
            try:
                deleted += self._sweep_table(table, int(now.timestamp()))
            except (ClientError, BotoCoreError) as exc:
                log.warning("TTL sweep of %s failed: %s", table.name, exc)
        return deleted

    def _sweep_table(self, table: TtlTable, now: int) -> int:
        client = self._runtime.client("dynamodb")
        names = {"#ttl": table.attribute} | {f"#k{i}": key for i, key in enumerate(table.keys)}
        expired = {":now": {"N": str(now)}}
        deleted = 0
        for page in client.get_paginator("scan").paginate(
            TableName=table.name,
            FilterExpression="#ttl <= :now",
            ProjectionExpression=", ".join(f"#k{i}" for i in range(len(table.keys))) + ", #ttl",
            ExpressionAttributeNames=names,
            ExpressionAttributeValues=expired,
        ):
            for item in page["Items"]:
                with contextlib.suppress(client.exceptions.ConditionalCheckFailedException):
                    client.delete_item(
                        TableName=table.name,
                        Key={key: item[key] for key in table.keys},
                        ConditionExpression="#ttl <= :now",
                        ExpressionAttributeNames={"#ttl": table.attribute},
                        ExpressionAttributeValues=expired,
                    )
                    deleted += 1
        if deleted:
            log.info("TTL: %d expired item(s) deleted from %s", deleted, table.name)
        return deleted


# ------------------------------------------------------------------ the clock


class DomainClock:
    """Domain time for the whole runtime; moves forward only."""

    def __init__(self, runtime: Runtime, *, start_at: datetime | None = None) -> None:
        """`start_at`: the domain time to start from (a demo on a given Monday), else real time."""
        self._runtime = runtime
        self._lock = threading.Lock()
        offset = start_at - datetime.now(UTC) if start_at is not None else timedelta(0)
        self._reading: tuple[timedelta, datetime | None] = (offset, None)
        self._sources: list[ScheduleSource] | None = None
        self._watermarks: dict[str, datetime] = {}
        self._sweeper: TtlSweeper | None = None
        self._swept_at: datetime | None = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # -- reading
    def now(self) -> datetime:
        offset, frozen = self._reading
        return frozen if frozen is not None else datetime.now(UTC) + offset

    def state(self) -> dict[str, Any]:
        """What a worker passes to closeloop.clock.set_state (frozen_at as ISO text)."""
        offset, frozen = self._reading
        return {
            "offset_seconds": offset.total_seconds(),
            "frozen_at": frozen.isoformat() if frozen is not None else None,
        }

    # -- life cycle
    def start(self) -> None:
        """Read the template's schedules (rate() counts from now) and fire them in real time."""
        with self._lock:
            self._ensure_sources()
        self._stop.clear()
        self._ticker = threading.Thread(target=self._tick_forever, name="domain-clock", daemon=True)
        self._ticker.start()

    def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=DRAIN_TIMEOUT_SECONDS)
            self._ticker = None

    def add_source(self, source: ScheduleSource) -> None:
        """Fire `source`'s occurrences from now on."""
        with self._lock:
            self._ensure_sources()
            assert self._sources is not None
            self._sources.append(source)
            self._watermarks[source.name] = self.now()

    # -- moving
    def tick(self) -> list[dict[str, Any]]:
        """Fire what real time has made due (the ticker calls this about once a second)."""
        with self._lock:
            self._ensure_sources()
            now = self.now()
            fired = self._fire_due(now, settle=False)
            self._sweep(now, every=TTL_SWEEP_EVERY)
            return fired

    def advance(self, duration: str | timedelta) -> list[dict[str, Any]]:
        """Move forward by an ISO-8601 duration ("P3D", "PT2H30M"); see advance_to."""
        if isinstance(duration, str):
            try:
                delta = isodate.parse_duration(duration)
            except (isodate.ISO8601Error, ValueError) as exc:
                raise ValueError(f"not an ISO-8601 duration: {duration!r}") from exc
        else:
            delta = duration
        with self._lock:
            self._ensure_sources()
            start = self.now()
            target = start + delta
            if target < start:
                raise ValueError("the clock only moves forward")
            return self._advance_locked(target)

    def advance_to(self, target: datetime) -> list[dict[str, Any]]:
        """Fire every occurrence due up to `target`, in time order, each with the clock frozen at
        its time and queues and streams drained after it; then run on from `target`."""
        if target.tzinfo is None:
            raise ValueError("the target time needs a time zone")
        with self._lock:
            self._ensure_sources()
            if target < self.now():
                raise ValueError("the clock only moves forward")
            return self._advance_locked(target.astimezone(UTC))

    # -- HTTP, for the gateway
    def handle_get(self) -> tuple[int, dict[str, Any]]:
        offset, frozen = self._reading
        return 200, {
            "now": _iso(self.now()),
            "offset_seconds": offset.total_seconds(),
            "frozen": frozen is not None,
        }

    def handle_post(self, body: Any) -> tuple[int, dict[str, Any]]:
        """{"advance": "P3D"} or {"to": "2026-01-05T09:00:00Z"}: move forward and fire."""
        try:
            fired = self._move(body)
        except (ValueError, OverflowError) as exc:
            return 400, {"message": str(exc)}
        return 200, {"now": _iso(self.now()), "fired": fired}

    def _move(self, body: Any) -> list[dict[str, Any]]:
        if isinstance(body, bytes | str):
            body = json.loads(body or "{}")
        if not isinstance(body, dict) or len(body.keys() & {"advance", "to"}) != 1:
            raise ValueError('send {"advance": "<ISO-8601 duration>"} or {"to": "<ISO-8601 time>"}')
        if "advance" in body:
            return self.advance(str(body["advance"]))
        return self.advance_to(datetime.fromisoformat(str(body["to"])))

    # -- inside the lock
    def _ensure_sources(self) -> None:
        if self._sources is not None:
            return
        started = self.now()
        declared, scheduler_arns = declared_schedules(self._runtime, started)
        self._sources = [*declared, SchedulerApiSource(self._runtime, scheduler_arns, self.now)]
        self._watermarks = {source.name: started for source in self._sources}
        self._sweeper = TtlSweeper(self._runtime)

    def _advance_locked(self, target: datetime) -> list[dict[str, Any]]:
        try:
            fired = self._fire_due(target, settle=True)
            self._reading = (self._reading[0], target)
            self._sweep(target)
            self._drain()
        finally:
            self._reading = (target - datetime.now(UTC), None)
        return fired

    def _fire_due(self, until: datetime, *, settle: bool) -> list[dict[str, Any]]:
        """Fire every occurrence up to `until`, earliest first.

        With `settle` (time travel) the clock is frozen at each occurrence and queues and streams
        drain before the next; otherwise (real time) only the invocation sees the frozen time.
        """
        assert self._sources is not None
        fired: list[dict[str, Any]] = []
        cursor: datetime | None = None
        while True:
            due = [
                (occurrence, source)
                for source in self._sources
                if (occurrence := source.next_due(self._watermarks[source.name], until)) is not None
            ]
            if not due:
                break
            earliest = min(occurrence.at for occurrence, _ in due)
            at = earliest if cursor is None else max(earliest, cursor)
            if settle:
                self._reading = (self._reading[0], at)
                self._sweep(at, every=TTL_SWEEP_EVERY_IN_A_JUMP)
            # Occurrences of the same instant fire together (concurrently, as on AWS: each function
            # has its own workers), and one drain follows them.
            now_due = sorted(((o, s) for o, s in due if o.at == earliest), key=lambda pair: pair[1].name)
            for _, source in now_due:
                self._watermarks[source.name] = max(self._watermarks[source.name], earliest)
            if len(now_due) == 1:
                outcomes = [self._invoke(now_due[0][0], at)]
            else:
                with ThreadPoolExecutor(max_workers=len(now_due), thread_name_prefix="clock-fire") as pool:
                    outcomes = list(pool.map(self._invoke, [o for o, _ in now_due], [at] * len(now_due)))
            for (occurrence, source), ok in zip(now_due, outcomes, strict=True):
                source.fired(occurrence)
                fired.append(
                    {
                        "function": occurrence.function_id,
                        "source": occurrence.source,
                        "type": occurrence.kind,
                        "scheduled_time": _iso_z(occurrence.at),
                        "ok": ok,
                    }
                )
            if settle:
                self._drain()
            cursor = at
        for name, watermark in self._watermarks.items():
            self._watermarks[name] = max(watermark, until)
        return fired

    def _invoke(self, occurrence: Occurrence, at: datetime) -> bool:
        state = {"offset_seconds": self._reading[0].total_seconds(), "frozen_at": at.isoformat()}
        try:
            result = self._runtime.invoke(occurrence.function_id, occurrence.event, clock_state=state)
        except Exception:
            log.exception("schedule %s: invoking %s failed", occurrence.source, occurrence.function_id)
            return False
        if result.ok:
            log.info("schedule %s fired %s at %s", occurrence.source, occurrence.function_id, _iso_z(at))
        else:
            log.error(
                "schedule %s: %s failed at %s: %s",
                occurrence.source,
                occurrence.function_id,
                _iso_z(at),
                result.error,
            )
        return bool(result.ok)

    def _sweep(self, now: datetime, *, every: timedelta | None = None) -> None:
        """Delete expired items; with `every`, only if the last sweep is that old (domain time)."""
        if self._sweeper is None or not self._sweeper.tables:
            return
        if every is not None and self._swept_at is not None and now - self._swept_at < every:
            return
        self._sweeper.sweep(now)
        self._swept_at = now

    def _drain(self) -> None:
        if not self._runtime.event_sources.drain(timeout=DRAIN_TIMEOUT_SECONDS):
            log.warning("queues and streams did not settle within %ss", DRAIN_TIMEOUT_SECONDS)

    def _tick_forever(self) -> None:
        while not self._stop.wait(TICK_SECONDS):
            try:
                self.tick()
            except Exception:
                log.exception("clock tick failed")


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")
