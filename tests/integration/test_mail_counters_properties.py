"""Property: whatever SES and customers do with a wave's emails (deliveries of first emails and
reminders, events repeated, soft and hard bounces, complaints, unsubscribes and their undo,
responses before or after the delivery event), once the Invitations stream has been applied (in
batches, some handed over twice), the `mail` counters and the waves' delivery counts equal a
recount from the items: verify_mail() finds no difference."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closeloop import clock
from closeloop.models import Invitation
from closeloop.models.invitation import SendStep
from closeloop.services import counters
from closeloop.services.capture import record_response
from closeloop.services.stats import verify_mail
from closeloop_local.moto_numbers import exact_numbers
from closeloop_local.template import ResolvedTemplate
from tests.integration.dispatch import make_wave
from tests.integration.responses_support import sent_invitation
from tests.integration.ses_events_support import apply_counters, handle, invitations_stream, ses_event

_examples = itertools.count()


@dataclass(frozen=True)
class Happening:
    person: int
    what: str  # deliver, bounce, complain, unsubscribe, undo, respond
    step: str  # first, reminder
    bounce_type: str


happenings = st.builds(
    Happening,
    person=st.integers(min_value=0, max_value=4),
    what=st.sampled_from(["deliver", "deliver", "bounce", "complain", "unsubscribe", "undo", "respond"]),
    step=st.sampled_from(["first", "first", "reminder"]),
    bounce_type=st.sampled_from(["Permanent", "Transient", "Undetermined"]),
)
people = st.lists(
    st.tuples(st.sampled_from(["pharmacy", "hospital"]), st.sampled_from(["fr", "en"]), st.booleans()),
    min_size=5,
    max_size=5,
)


@pytest.fixture
def ready(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    for name, value in stack.functions["SesEventsFunction"].environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(counters.time, "sleep", lambda _seconds: None)
    exact_numbers()
    return stack


def event_for(kind: str, invitation_id: str, step: str, **part: Any) -> dict[str, Any]:
    """The sample event of this kind, about this invitation's email of this step."""
    event = ses_event(kind, **part)
    for header in event["detail"]["mail"]["headers"]:
        if header["name"] == "X-Closeloop-Invitation":
            header["value"] = invitation_id
        if header["name"] == "X-Closeloop-Step":
            header["value"] = step
    return event


def _happen(happening: Happening, invitation: Invitation) -> None:
    invitation_id = invitation.invitation_id
    if happening.what == "deliver":
        handle(event_for("Delivery", invitation_id, happening.step))
    elif happening.what == "bounce":
        handle(event_for("Bounce", invitation_id, happening.step, bounceType=happening.bounce_type))
    elif happening.what == "complain":
        handle(event_for("Complaint", invitation_id, happening.step))
    elif happening.what == "unsubscribe":
        invitation.update(
            actions=[Invitation.unsubscribed_at.set(Invitation.unsubscribed_at | clock.now())],
            add_version_condition=False,
        )
    elif happening.what == "undo":
        invitation.update(actions=[Invitation.unsubscribed_at.remove()], add_version_condition=False)
    else:
        record_response(invitation_id, 9, None)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(invited=people, sequence=st.lists(happenings, min_size=1, max_size=16), batch=st.integers(1, 7))
def test_mail_counters_equal_a_recount_after_any_sequence_of_ses_events_and_unsubscribes(
    ready: Any, invited: list[tuple[str, str, bool]], sequence: list[Happening], batch: int
) -> None:
    example = next(_examples)
    waves = [make_wave(month=f"2027-0{1 + example % 2}"), make_wave(month="2027-03")]
    stream = invitations_stream(from_start=False)
    invitations = []
    for n, (segment, language, reminded) in enumerate(invited):
        wave = waves[n % 2]
        invitation = sent_invitation(wave.wave_id, segment=segment, language=language, month=wave.month)
        if reminded:  # the reminder went out too
            invitation.reminder = SendStep(state="sent", at=clock.now(), attempts=1)
            invitation.reminded_at = clock.now()
            invitation.save()
        invitations.append(invitation)

    for happening in sequence:
        _happen(happening, invitations[happening.person])
    records = stream.read()
    for begin in range(0, len(records), batch):
        chunk = records[begin : begin + batch]
        assert apply_counters(chunk) == {"batchItemFailures": []}
        if begin % 2:
            assert apply_counters(chunk) == {"batchItemFailures": []}  # handed over again

    assert verify_mail() == []
    for wave in waves:
        wave.refresh()
        delivered = [
            item
            for item in Invitation.batch_get([i.invitation_id for i in invitations if i.wave_id == wave.wave_id])
            if item.delivered_at is not None
        ]
        assert (wave.delivered or 0) == len(delivered)
