"""Surveys really sent, for the tests of what comes back: a wave started by the planner, its
batches handed to the sender and its ledger to dispatch_ledger (all against moto), and the emails
SES accepted."""

from __future__ import annotations

import json
from datetime import datetime
from email.message import EmailMessage

from closeloop.models import Wave
from closeloop_local.template import ResolvedTemplate
from tests.integration.dispatch import LedgerStream, deliver, sent_messages
from tests.integration.planning_support import START, drain_queue, invitations_of, new_wave, send_queue_url, start


def send_queued(stack: ResolvedTemplate) -> None:
    """Deliver every batch waiting on the send queue to the sender, then its ledger to dispatch_ledger."""
    stream = LedgerStream()
    for batch in drain_queue(send_queue_url(stack)):
        message = {"batch_id": batch.batch_id, "wave_id": batch.wave_id, "step": batch.step}
        deliver(json.dumps({**message, "invitation_ids": list(batch.invitation_ids), "attempt": batch.attempt}))
    stream.apply()


def survey(stack: ResolvedTemplate, starts: datetime = START) -> Wave:
    """A wave to the test contacts' segment, started and sent: its emails are in SES's outbox."""
    wave = new_wave(starts)
    start(wave)
    send_queued(stack)
    assert {i.status for i in invitations_of(wave)} == {"sent"}, "every email of the wave went out"
    return wave


def survey_email(address: str) -> EmailMessage:
    """The latest email SES accepted for this address."""
    [message, *_] = [m for m in reversed(sent_messages()) if m["To"] == address]
    return message
