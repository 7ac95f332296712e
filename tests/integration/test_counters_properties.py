"""Property: whatever sequence of responses and changes customers make (answers, score changes
across categories, comments added and removed, promoted clicks later confirmed, weights other
than 1), once the Responses stream has been applied (in batches, some handed over twice), the
counters equal a recount from the items: verify_nps() finds no difference."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from closeloop.services import counters
from closeloop.services.capture import record_response
from closeloop.services.stats import verify_nps
from closeloop_local.moto_numbers import exact_numbers
from closeloop_local.template import ResolvedTemplate
from tests.integration.dispatch import make_wave
from tests.integration.responses_support import apply_counters, responses_stream, sent_invitation

_examples = itertools.count()


@dataclass(frozen=True)
class Answer:
    person: int  # which invitation
    score: int
    comment: bool
    confirmed: bool  # False: a promoted click


answers = st.builds(
    Answer,
    person=st.integers(min_value=0, max_value=4),
    score=st.integers(min_value=0, max_value=10),
    comment=st.booleans(),
    confirmed=st.sampled_from([True, True, False]),
)
people = st.lists(
    st.tuples(
        st.sampled_from(["pharmacy", "hospital", "partner"]),
        st.sampled_from(["fr", "en"]),
        st.sampled_from([1, 1, 0.5, 2.25, 0.3333, 7]),
    ),
    min_size=5,
    max_size=5,
)


@pytest.fixture
def ready(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    monkeypatch.setattr(counters.time, "sleep", lambda _seconds: None)
    exact_numbers()  # moto's ADD as DynamoDB's: exact, never "0E-8" (as the local runtime has it)
    return stack


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(invited=people, sequence=st.lists(answers, min_size=1, max_size=14), batch=st.integers(1, 6))
def test_counters_equal_a_recount_after_any_sequence_of_responses_and_changes(
    ready: Any, invited: list[tuple[str, str, float]], sequence: list[Answer], batch: int
) -> None:
    example = next(_examples)
    waves = [make_wave(month=f"2027-0{1 + example % 2}"), make_wave(month="2027-03")]
    invitations = [
        sent_invitation(waves[n % 2].wave_id, segment=segment, language=language, weight=weight, month=month)
        for n, (segment, language, weight) in enumerate(invited)
        for month in [waves[n % 2].month]
    ]
    stream = responses_stream()

    for answer in sequence:
        comment = f"Remarque {answer.score}, exemple {example}." if answer.comment else None
        record_response(
            invitations[answer.person].invitation_id,
            answer.score,
            comment if answer.confirmed else None,
            source="form" if answer.confirmed else "click",
            confirmed=answer.confirmed,
        )
    records = stream.read()
    for start in range(0, len(records), batch):
        chunk = records[start : start + batch]
        assert apply_counters(chunk) == {"batchItemFailures": []}
        if start % 2:
            assert apply_counters(chunk) == {"batchItemFailures": []}  # handed over again

    assert verify_nps() == []
    for wave in waves:
        wave.refresh()
        answered = {answer.person for answer in sequence if invitations[answer.person].wave_id == wave.wave_id}
        assert wave.responded == len(answered)
