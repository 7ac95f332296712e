"""What the wave tests share: the environment of the waves functions, contacts written fast, waves
planned at a chosen domain time, and what the send queue holds."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from closeloop import clock
from closeloop.caches import forget_all
from closeloop.models import Contact, Invitation, Suppression, Wave
from closeloop.secrets import email_hash
from closeloop.services import planning
from closeloop.services.waves import create_wave
from closeloop_local.template import ResolvedTemplate

WAVE_FUNCTIONS = ("WavesApiFunction", "WaveScheduleFunction")
START = datetime(2027, 1, 4, 9, 0, tzinfo=UTC)


def use_wave_functions_environment(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> None:
    """This process configured as the waves functions are (their own variables over Globals)."""
    for function in WAVE_FUNCTIONS:
        for name, value in stack.functions[function].environment.items():
            monkeypatch.setenv(name, value)
    forget_all()


def add_contacts(count: int, *, segment: str = "pharmacy", language: str = "fr", prefix: str = "c") -> list[Contact]:
    """Contacts written with plain batch writes (as an import would load many)."""
    contacts = []
    with Contact.batch_write() as writer:
        for index in range(count):
            email = f"{prefix}{index}.{segment}@customers.example"
            contact = Contact(
                f"{prefix.upper()}{segment.upper()}{index:06d}",
                email=email,
                email_hash=email_hash(email),
                first_name=f"Name{index}",
                segment=segment,
                language=language,
            )
            writer.save(contact)
            contacts.append(contact)
    return contacts


def suppress(contacts: Iterable[Contact]) -> None:
    for contact in contacts:
        Suppression(contact.email_hash, reason="unsubscribe", source="link").save()


def at(moment: datetime) -> None:
    """Freeze the domain clock at `moment`."""
    clock.set_state(frozen_at=moment)


def new_wave(start: datetime = START, **changes: Any) -> Wave:
    """A wave created a minute before its start (the domain clock is left at its start)."""
    at(start - timedelta(minutes=1))
    arguments: dict[str, Any] = {"name": "Vague test", "segments": ["pharmacy"], "languages": [], "everyone": False}
    arguments.update(changes)
    wave = create_wave(starts_at=start, **arguments)
    at(start)
    return wave


def start(wave: Wave | str, **kwargs: Any) -> planning.StepResult:
    wave_id = wave if isinstance(wave, str) else wave.wave_id
    return planning.run_wave_step(wave_id, "start", **kwargs)


def invitations_of(wave: Wave | str) -> list[Invitation]:
    wave_id = wave if isinstance(wave, str) else wave.wave_id
    return list(Invitation.scan(Invitation.wave_id == wave_id, consistent_read=True))


@dataclass(frozen=True)
class QueuedBatch:
    batch_id: str
    wave_id: str
    step: str
    invitation_ids: tuple[str, ...]
    attempt: int
    attributes: dict[str, Any]


def drain_queue(url: str) -> list[QueuedBatch]:
    """Every message on a queue (received and deleted)."""
    sqs = boto3.client("sqs")
    found: list[QueuedBatch] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]).get(
            "Messages", []
        )
        if not messages:
            return found
        for message in messages:
            body = json.loads(message["Body"])
            found.append(
                QueuedBatch(
                    body["batch_id"],
                    body["wave_id"],
                    body["step"],
                    tuple(body["invitation_ids"]),
                    body["attempt"],
                    message.get("MessageAttributes", {}),
                )
            )
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def send_queue_url(stack: ResolvedTemplate) -> str:
    return stack.functions["WaveScheduleFunction"].environment["SEND_QUEUE_URL"]


def planning_queue_url(stack: ResolvedTemplate) -> str:
    return stack.functions["WaveScheduleFunction"].environment["PLANNING_QUEUE_URL"]


def scheduled(stack: ResolvedTemplate) -> Iterator[dict[str, Any]]:
    """Every Scheduler schedule, with its details."""
    client = boto3.client("scheduler")
    for page in client.get_paginator("list_schedules").paginate():
        for summary in page["Schedules"]:
            yield client.get_schedule(Name=summary["Name"], GroupName=summary["GroupName"])
