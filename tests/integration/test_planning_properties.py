"""Property: whatever sequence of overlapping waves is planned through the real planning code (some
starting together and planned at the same moment, some cancelled), no contact ever gets 3 surveys
in 12 months or 2 within 3 months, and each wave has at most one invitation per contact."""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closeloop.models import Contact, Invitation, Wave
from closeloop.rules.pressure import PressureRules, complies
from closeloop.services import planning, survey_claims
from closeloop.services.waves import cancel_wave
from closeloop_local.template import ResolvedTemplate
from tests.integration.planning_support import (
    START,
    add_contacts,
    drain_queue,
    invitations_of,
    new_wave,
    send_queue_url,
    start,
    use_wave_functions_environment,
)

_examples = itertools.count()


@dataclass(frozen=True)
class PlannedWave:
    day: int  # days after START
    together: bool  # starts with the previous wave, and is planned in the middle of its claims
    cancelled: bool  # cancelled once planned (its claims given back)


waves_strategy = st.lists(
    st.builds(
        PlannedWave,
        day=st.integers(min_value=0, max_value=540),
        together=st.booleans(),
        cancelled=st.sampled_from([False, False, False, True]),
    ),
    min_size=2,
    max_size=6,
)


@contextmanager
def planned_inside_claims(run: Callable[[], Any]) -> Iterator[None]:
    """While the block plans a wave, run `run` between its reads and its first claim write."""
    real = survey_claims.transact_updates
    pending = [run]

    def interleaved(*args: Any, **kwargs: Any) -> Any:
        if pending:
            pending.pop()()
        return real(*args, **kwargs)

    survey_claims.transact_updates = interleaved  # type: ignore[assignment]
    try:
        yield
    finally:
        survey_claims.transact_updates = real  # type: ignore[assignment]


@pytest.fixture
def waves(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    use_wave_functions_environment(stack, monkeypatch)
    return stack


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=waves_strategy, contacts=st.integers(min_value=2, max_value=5))
def test_no_sequence_of_overlapping_waves_ever_breaks_survey_pressure(
    waves: ResolvedTemplate, plan: list[PlannedWave], contacts: int
) -> None:
    segment = f"prop{next(_examples)}"
    people = add_contacts(contacts, segment=segment, prefix=segment)
    created: list[tuple[Wave, PlannedWave]] = []

    # Group the waves by start: a wave "together" with the previous one starts with it
    groups: list[list[PlannedWave]] = []
    for wave_plan in sorted(plan, key=lambda p: p.day):
        if wave_plan.together and groups:
            groups[-1].append(wave_plan)
        else:
            groups.append([wave_plan])
    for group in groups:
        moment = START + timedelta(days=group[0].day, hours=len(created))
        group_waves = [new_wave(moment, name=f"W{len(created) + i}", segments=[segment]) for i in range(len(group))]
        first, others = group_waves[0], group_waves[1:]
        with planned_inside_claims(lambda others=others: [start(other) for other in others]):
            start(first)
        for other in others:  # when the first claimed nobody, the others had no moment to slip in
            start(other)
        for wave, wave_plan in zip(group_waves, group, strict=True):
            created.append((wave, wave_plan))
            if wave_plan.cancelled:
                status = Wave.get(wave.wave_id).status
                if status == "sent":  # nobody to send to: the wave ended as planning did
                    assert Wave.get(wave.wave_id).reserved == 0
                    continue
                cancel_wave(wave.wave_id)
                planning.run_wave_step(wave.wave_id, "release")
    drain_queue(send_queue_url(waves))

    # Surveys: invitations still reserved (a cancelled wave's are released and skipped)
    surveys: dict[str, list[datetime]] = defaultdict(list)
    entries: dict[str, set[str]] = defaultdict(set)
    for wave, _ in created:
        invitations = invitations_of(wave)
        assert len({i.contact_id for i in invitations}) == len(invitations) == contacts
        stored = Wave.get(wave.wave_id)
        assert stored.targeted == contacts
        skipped = stored.skipped_suppressed + stored.skipped_pressure_gap + stored.skipped_pressure_max
        assert stored.reserved + skipped == contacts
        for invitation in invitations:
            if invitation.status == "reserved":
                surveys[invitation.contact_id].append(wave.starts_at)
                entries[invitation.contact_id].add(str(invitation.survey_entry))
    rules = PressureRules()
    for person in Contact.batch_get([p.contact_id for p in people]):
        assert complies(surveys[person.contact_id], rules), sorted(surveys[person.contact_id])
        assert set(person.survey_dates) <= entries[person.contact_id], "the ledger holds only surveys made"


def test_a_reservation_is_never_made_twice_for_one_contact_and_wave(waves: ResolvedTemplate) -> None:
    contacts = add_contacts(4)
    wave = new_wave()
    start(wave)
    # the page is planned again from scratch, as a retry that lost every write but the claims would
    Wave.get(wave.wave_id).update(
        actions=[Wave.planning_done.set(False), Wave.planning_pending.set([c.contact_id for c in contacts])]
    )

    start(wave)

    invitations = list(Invitation.scan(Invitation.wave_id == wave.wave_id))
    assert len(invitations) == 4
    assert {i.first.batch_id for i in invitations if i.first} == {  # the same batch, never a second one
        b.batch_id for b in drain_queue(send_queue_url(waves))
    }
