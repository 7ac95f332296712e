"""The nightly counters audit (functions/stats_audit): a recount of the responses and invitations
against Stats and the waves' counts, twice a pause apart; what differs both times is logged, counted in the
`stats_differences` metric (an alarm's) and returned; a counter the stream reaches meanwhile is
not a difference. It writes nothing."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from closeloop import aws
from closeloop.rules.mail_counters import MAIL_METRIC
from closeloop.rules.nps_counters import NPS_METRIC
from closeloop.services import counters
from closeloop.services.capture import record_response
from closeloop.services.stats import audit_counters
from closeloop_local.moto_numbers import exact_numbers
from closeloop_local.template import ResolvedTemplate
from tests.integration.dispatch import make_wave
from tests.integration.responses_support import apply_counters, nps_item, responses_stream, sent_invitation
from tests.integration.ses_events_support import invitations_stream
from tests.support import LambdaContext, load_handler

audit = load_handler("stats_audit")


@pytest.fixture
def ready(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    monkeypatch.setattr(counters.time, "sleep", lambda _seconds: None)
    exact_numbers()
    return stack


def _answered_wave() -> str:
    """A wave with a detractor and a promoter, their records applied to the counters."""
    wave = make_wave(month="2027-03")
    stream, invitations = responses_stream(), invitations_stream(from_start=False)
    for score in (2, 10):
        invitation = sent_invitation(wave.wave_id, segment="pharmacy", language="fr")
        record_response(invitation.invitation_id, score, None)
    assert apply_counters(stream.read() + invitations.read()) == {"batchItemFailures": []}
    return wave.wave_id


def _add(scope: str, attribute: str, value: int, metric: str = NPS_METRIC) -> None:
    """A counter moved behind the stream's back (a bug, a hand edit)."""
    aws.client("dynamodb").update_item(
        TableName=ready_tables()["stats"],
        Key={"scope": {"S": scope}, "metric": {"S": metric}},
        UpdateExpression="ADD #a :v",
        ExpressionAttributeNames={"#a": attribute},
        ExpressionAttributeValues={":v": {"N": str(value)}},
    )


def ready_tables() -> dict[str, str]:
    from closeloop.settings import get_settings

    return {"stats": get_settings().stats_table}


def _differences_metric(output: str) -> list[Any]:
    """The `stats_differences` values of the EMF lines printed."""
    lines = [json.loads(line) for line in output.splitlines() if '"_aws"' in line]
    return [line["stats_differences"] for line in lines if "stats_differences" in line]


def test_counters_that_match_the_recount_report_nothing(ready: Any, capsys: pytest.CaptureFixture[str]) -> None:
    _answered_wave()

    answer = audit({"pause_seconds": 0}, LambdaContext())

    assert answer == {"differences": 0, "settled_meanwhile": 0, "first": []}
    assert _differences_metric(capsys.readouterr().out) in ([0.0], [[0.0]])


def test_a_wrong_counter_is_logged_counted_and_returned_and_nothing_is_written(
    ready: Any, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    # Given counters right for a wave, then its wave counter moved by hand
    wave_id = _answered_wave()
    _add(f"wave#{wave_id}", "n_det_c", 1)
    capsys.readouterr()

    # When the audit runs
    answer = audit({"pause_seconds": 0}, LambdaContext())

    # Then the difference is returned, logged as an error and counted in the alarm's metric
    assert answer["differences"] == 1
    assert answer["first"] == [
        {
            "table": "stats",
            "key": f"wave#{wave_id}",
            "metric": NPS_METRIC,
            "attribute": "n_det_c",
            "expected": "1",
            "found": "2",
        }
    ]
    errors = [r for r in caplog.records if r.getMessage() == "counter differs from the recount"]
    assert [(r.levelname, getattr(r, "key", None), getattr(r, "attribute", None)) for r in errors] == [
        ("ERROR", f"wave#{wave_id}", "n_det_c")
    ]
    assert _differences_metric(capsys.readouterr().out) in ([1.0], [[1.0]])
    # and the audit wrote nothing: the wrong counter is still there for a person to look at
    assert nps_item(f"wave#{wave_id}")["n_det_c"] == 2


def test_a_wrong_mail_counter_is_reported_with_its_metric(ready: Any) -> None:
    # Given counters right for a wave whose two emails were answered (so delivered), then its
    # `mail` item's delivered count moved by hand
    wave_id = _answered_wave()
    _add(f"wave#{wave_id}/language#fr", "delivered", -1, metric=MAIL_METRIC)

    answer = audit({"pause_seconds": 0}, LambdaContext())

    assert answer["first"] == [
        {
            "table": "stats",
            "key": f"wave#{wave_id}/language#fr",
            "metric": MAIL_METRIC,
            "attribute": "delivered",
            "expected": "2",
            "found": "1",
        }
    ]


def test_a_counter_the_stream_reaches_during_the_pause_is_not_a_difference(ready: Any) -> None:
    # Given a response written whose record has not reached the counters yet
    wave = make_wave(month="2027-03")
    stream, invitations = responses_stream(), invitations_stream(from_start=False)
    invitation = sent_invitation(wave.wave_id)
    record_response(invitation.invitation_id, 7, "Correct.")

    # When the audit looks, then the streams are applied during its pause
    result = audit_counters(pause=60, sleep=lambda _seconds: apply_counters(stream.read() + invitations.read()))

    # Then nothing is reported, and what settled is said
    assert result.differences == []
    assert result.first_seen > 0
    assert nps_item(f"wave#{wave.wave_id}")["n_pas_c"] == Decimal(1)
