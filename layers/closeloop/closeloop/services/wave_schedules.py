"""The one-time EventBridge Scheduler schedules of a wave: its start, its reminder and its closing.

Created through the Scheduler API when the wave is created (`at()` in the programme's time zone,
deleted by Scheduler once fired), deleted when the wave is cancelled. Each targets the wave
schedule function with `{"wave_id", "step"}`; a schedule that fires for a missing or cancelled
wave does nothing, and one that fires twice finds the step done.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError

from closeloop import aws
from closeloop.errors import Unavailable
from closeloop.observability import logger
from closeloop.rules.waves import STEPS, schedule_name
from closeloop.settings import Settings, get_settings

GROUP = "default"
LEAD = timedelta(minutes=1)
"""Scheduler fires with a one-minute precision: a time closer than this is set this far ahead, so
that a wave starting "now" is never given a time already gone."""


@dataclass(frozen=True)
class ScheduleTarget:
    """What the schedules invoke, and the role Scheduler assumes to do it."""

    function_arn: str
    role_arn: str

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ScheduleTarget:
        settings = settings or get_settings()
        if not settings.wave_schedule_function_arn or not settings.scheduler_role_arn:
            raise Unavailable("this function is not set up to schedule waves")
        return cls(settings.wave_schedule_function_arn, settings.scheduler_role_arn)


def at_expression(at: datetime, timezone: str) -> str:
    """`at(yyyy-mm-ddThh:mm:ss)` of a time, as the wall clock of `timezone` shows it."""
    return f"at({at.astimezone(ZoneInfo(timezone)).strftime('%Y-%m-%dT%H:%M:%S')})"


def create_wave_schedules(
    wave_id: str, times: dict[str, datetime], *, now: datetime, target: ScheduleTarget | None = None
) -> None:
    """One schedule per step (`times`: step -> when); one that exists already (a retried
    creation) is kept."""
    settings = get_settings()
    target = target or ScheduleTarget.from_settings(settings)
    client = aws.client("scheduler")
    for step, at in times.items():
        name = schedule_name(settings.stage, wave_id, step)
        try:
            client.create_schedule(
                Name=name,
                GroupName=GROUP,
                ScheduleExpression=at_expression(max(at, now + LEAD), settings.timezone),
                ScheduleExpressionTimezone=settings.timezone,
                FlexibleTimeWindow={"Mode": "OFF"},
                ActionAfterCompletion="DELETE",
                State="ENABLED",
                Description=f"closeloop wave {wave_id}: {step}",
                Target={
                    "Arn": target.function_arn,
                    "RoleArn": target.role_arn,
                    "Input": json.dumps({"wave_id": wave_id, "step": step}),
                },
            )
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConflictException":
                logger.exception("cannot create a wave schedule", extra={"wave_id": wave_id, "step": step})
                raise Unavailable("the scheduler cannot be reached: try again") from error


def delete_wave_schedules(wave_id: str, steps: Iterable[str] = STEPS) -> list[str]:
    """Delete the wave's schedules (those already fired or deleted are fine); the steps deleted."""
    settings = get_settings()
    client = aws.client("scheduler")
    deleted = []
    for step in steps:
        try:
            client.delete_schedule(Name=schedule_name(settings.stage, wave_id, step), GroupName=GROUP)
            deleted.append(step)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                logger.exception("cannot delete a wave schedule", extra={"wave_id": wave_id, "step": step})
                raise Unavailable("the scheduler cannot be reached: try again") from error
    return deleted
