"""The promoter on stored clicks: the clicks are logged by capture's own GET (the survey page
service), the clock moves past the promotion delay, and the promoter function runs as its
schedule would. A person's lone click becomes an unconfirmed response; a scanner's run never
does; nothing is written twice."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from closeloop import clock
from closeloop.models import Click, Invitation, Response
from closeloop.services.capture import record_response, show_survey_page
from closeloop.tokens import survey_token
from closeloop_local.template import ResolvedTemplate
from tests.integration.dispatch import make_wave
from tests.integration.responses_support import sent_invitation
from tests.support import LambdaContext, load_event, load_handler

FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFE_LINKS = "Mozilla/5.0 (compatible; Microsoft Office Protection) SafeLinks"
promoter = load_handler("promoter")


@pytest.fixture
def ready(stack: ResolvedTemplate) -> ResolvedTemplate:
    return stack


def _later(**delta: float) -> None:
    """The domain clock moved forward from where it is."""
    moved = clock.now() + timedelta(**delta)
    clock.set_state(frozen_at=moved)


def _run_promoter() -> dict[str, int]:
    answer: dict[str, int] = promoter(load_event("schedule/promoter-sweep.json"), LambdaContext())
    return answer


def _click(invitation: Invitation, score: str, *, method: str = "GET", agent: str = FIREFOX) -> None:
    show_survey_page(survey_token(invitation.invitation_id), score, method, agent, "198.51.100.7")


def _response(invitation: Invitation) -> Response | None:
    return next(iter(Response.batch_get([invitation.invitation_id], consistent_read=True)), None)


def _waiting(invitation: Invitation) -> list[Click]:
    return [c for c in Click.query(invitation.invitation_id, consistent_read=True) if c.promote_at is not None]


def _invitation_delivered_minutes_ago(minutes: float) -> Invitation:
    now = clock.now()
    clock.set_state(frozen_at=now)
    wave = make_wave(month="2027-03")
    sent = now - timedelta(minutes=minutes, seconds=4)
    return sent_invitation(wave.wave_id, sent_at=sent, delivered_at=now - timedelta(minutes=minutes))


def test_a_persons_lone_click_becomes_an_unconfirmed_response_after_the_delay(
    ready: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a person who opened their email 10 minutes after delivery and clicked 8, then left
    invitation = _invitation_delivered_minutes_ago(10)
    clicked_at = clock.now()
    _click(invitation, "8")

    # When the promoter runs before the delay has passed, it waits
    _later(minutes=29)
    assert _run_promoter()["promoted"] == 0
    assert _response(invitation) is None

    # and once it has passed, the click becomes an unconfirmed response from the click
    _later(minutes=2)
    assert _run_promoter() == {"decided": 1, "promoted": 1, "waiting": 0}
    response = _response(invitation)
    assert response is not None
    assert (response.score, response.category, response.confirmed, response.source) == (8, "passive", False, "click")
    # dated from the click, not from the promoter's run 31 minutes later
    assert response.created_at == clicked_at
    assert response.updated_at == clock.now()
    assert Invitation.get(invitation.invitation_id).responded_at == clicked_at
    assert _waiting(invitation) == []  # decided: out of the index
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert any(line.get("clicks_promoted") == [1.0] or line.get("clicks_promoted") == 1.0 for line in emitted)


def test_a_scanner_fetching_every_link_within_seconds_of_delivery_leaves_no_response(ready: Any) -> None:
    # Given an invitation delivered a second ago, and a gateway fetching every link with HEAD and GET
    invitation = _invitation_delivered_minutes_ago(1 / 60)
    for score in [*(str(n) for n in range(11)), "trap"]:
        _click(invitation, score, method="HEAD", agent=SAFE_LINKS)
        _click(invitation, score, agent=SAFE_LINKS)
        _later(seconds=0.1)

    _later(minutes=31)
    run = _run_promoter()

    assert run == {"decided": 1, "promoted": 0, "waiting": 0}
    assert _response(invitation) is None
    assert _waiting(invitation) == []


def test_a_scanner_in_a_browser_disguise_is_still_caught_by_its_burst_of_scores(ready: Any) -> None:
    invitation = _invitation_delivered_minutes_ago(5)  # late enough not to be early
    for score in ("0", "5", "10"):
        _click(invitation, score)
        _later(seconds=1)

    _later(minutes=31)
    assert _run_promoter()["promoted"] == 0
    assert _response(invitation) is None


def test_a_later_click_makes_the_promoter_wait_for_its_own_delay_then_the_latest_wins(ready: Any) -> None:
    invitation = _invitation_delivered_minutes_ago(10)
    _click(invitation, "4")
    _later(minutes=20)
    _click(invitation, "6")  # they came back and clicked another score

    _later(minutes=11)  # the first click's delay has passed, not the second's
    assert _run_promoter() == {"decided": 0, "promoted": 0, "waiting": 1}
    assert _response(invitation) is None

    _later(minutes=20)
    assert _run_promoter()["promoted"] == 1
    response = _response(invitation)
    assert response is not None
    assert response.score == 6


def test_a_response_sent_before_the_delay_is_never_replaced_by_its_click(ready: Any) -> None:
    invitation = _invitation_delivered_minutes_ago(10)
    _click(invitation, "3")
    record_response(invitation.invitation_id, 2, "Trop cher.")

    _later(minutes=31)
    assert _run_promoter()["promoted"] == 0

    response = _response(invitation)
    assert response is not None
    assert (response.score, response.confirmed, response.source, response.comment) == (2, True, "form", "Trop cher.")
    assert _waiting(invitation) == []


def test_a_run_that_died_after_writing_repeats_its_decision_harmlessly(ready: Any) -> None:
    invitation = _invitation_delivered_minutes_ago(10)
    _click(invitation, "9")
    _later(minutes=31)
    # the earlier run wrote the response, then died before clearing the click
    record_response(invitation.invitation_id, 9, None, source="click", confirmed=False)
    written = _response(invitation)

    assert _run_promoter() == {"decided": 1, "promoted": 0, "waiting": 0}

    again = _response(invitation)
    assert again is not None
    assert written is not None
    assert (again.version, again.updated_at, again.confirmed) == (written.version, written.updated_at, False)
    assert _waiting(invitation) == []


def test_a_click_made_before_the_wave_closed_is_promoted_and_none_after(ready: Any) -> None:
    invitation = _invitation_delivered_minutes_ago(10)
    _click(invitation, "10")
    invitation.update(actions=[Invitation.closes_at.set(clock.now() + timedelta(minutes=5))])

    _later(minutes=31)  # the wave closed meanwhile: the click was made while it was open
    assert _run_promoter()["promoted"] == 1
