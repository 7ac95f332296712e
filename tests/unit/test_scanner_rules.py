"""Mail scanners and people, as pure rules: user agents, a click's signals, bursts, and which click
becomes an unconfirmed response (docs/capture.md "Scanners and unconfirmed responses")."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from closeloop.rules.scanner import (
    ClickSeen,
    bursts_of,
    promotion_candidate,
    signals_of,
    ua_class,
)
from closeloop.settings import Settings


@dataclass(frozen=True)
class Rules:
    burst_window_seconds: int = 10
    early_click_seconds: int = 60


RULES = Rules()
SENT = datetime(2027, 3, 2, 9, 0, tzinfo=UTC)
DELIVERED = SENT + timedelta(seconds=3)
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.5 Mobile/15E148 Safari/604.1"
)


def click(
    seconds_after_delivery: float, score: int | None = 7, *, kind: str = "survey", method: str = "GET", signals=()
) -> ClickSeen:
    return ClickSeen(
        clicked_at=DELIVERED + timedelta(seconds=seconds_after_delivery),
        kind=kind,
        score=score,
        method=method,
        signals=frozenset(signals),
        key=f"{seconds_after_delivery:012.3f}",
    )


@pytest.mark.parametrize(
    "agent",
    [
        "Mozilla/5.0 (compatible; Microsoft Office Protection) SafeLinks",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0 Safari/537.36",
        "Mimecast-URL-Protect/1.0",
        "Proofpoint URL Defense",
        "Mozilla/5.0 (compatible; Barracuda Sentinel)",
        "Cisco IronPort URL filter",
        "Symantec Email Security.cloud",
        "Trend Micro Email Security",
        "Mozilla/5.0 Sophos Email link protection",
        "Trellix Email Security (FireEye)",
        "FortiMail URL check",
        "Zscaler Sandbox",
        "Google-Safety; +http://www.google.com/bot.html",
        "curl/8.5.0",
        "Wget/1.21.4",
        "python-requests/2.32.3",
        "Go-http-client/2.0",
        "Java/17.0.2",
        "okhttp/4.12.0",
        "Mozilla/5.0 (compatible; bingbot/2.0)",
        "SomethingUnheardOf/1.0",
    ],
)
def test_known_scanners_libraries_and_unknown_agents_are_scanners(agent: str) -> None:
    assert ua_class(agent) == "scanner"


@pytest.mark.parametrize("agent", [FIREFOX, IPHONE, "Mozilla/5.0 (X11; Linux x86_64) Chrome/126.0 Safari/537.36"])
def test_browsers_people_use_are_browsers(agent: str) -> None:
    assert ua_class(agent) == "browser"


@pytest.mark.parametrize("agent", [None, "", "   "])
def test_a_request_without_a_user_agent_is_classed_none(agent: str | None) -> None:
    assert ua_class(agent) == "none"


def test_a_browser_get_long_after_delivery_has_no_signal() -> None:
    assert signals_of("GET", "survey", "browser", 600.0, 605.0, RULES) == set()


def test_head_trap_agent_and_timing_each_raise_their_own_signal() -> None:
    assert signals_of("HEAD", "survey", "browser", 600.0, 605.0, RULES) == {"head"}
    assert signals_of("GET", "trap", "browser", 600.0, 605.0, RULES) == {"trap"}
    assert signals_of("GET", "survey", "scanner", 600.0, 605.0, RULES) == {"scanner_agent"}
    assert signals_of("GET", "survey", "none", 600.0, 605.0, RULES) == {"scanner_agent"}
    assert signals_of("GET", "survey", "browser", 12.0, 15.0, RULES) == {"early"}
    assert signals_of("HEAD", "trap", "scanner", 1.0, 2.0, RULES) == {"head", "trap", "scanner_agent", "early"}


def test_early_is_judged_on_delivery_and_on_the_send_only_while_delivery_is_unknown() -> None:
    # 30 s after delivery but 90 s after the send: early, since delivery is what the scanner follows
    assert "early" in signals_of("GET", "survey", "browser", 30.0, 90.0, RULES)
    # delivery unknown: 30 s after the send is early, 90 s is not
    assert "early" in signals_of("GET", "survey", "browser", None, 30.0, RULES)
    assert "early" not in signals_of("GET", "survey", "browser", None, 90.0, RULES)
    # a click before the delivery was recorded is early too; with no time known, timing says nothing
    assert "early" in signals_of("GET", "survey", "browser", -2.0, 1.0, RULES)
    assert "early" not in signals_of("GET", "survey", "browser", None, None, RULES)


def test_the_rules_read_their_thresholds_from_the_product_settings() -> None:
    settings = Settings(burst_window_seconds=10, early_click_seconds=120)
    assert "early" in signals_of("GET", "survey", "browser", 100.0, 100.0, settings)


def test_clicks_closer_than_the_window_chain_into_one_burst() -> None:
    clicks = [click(100), click(108), click(116), click(200)]
    assert [len(burst.clicks) for burst in bursts_of(clicks, RULES)] == [3, 1]


def test_a_single_person_click_becomes_the_candidate() -> None:
    decision = promotion_candidate([click(1800, 8)], RULES, delivered_at=DELIVERED, sent_at=SENT)
    assert decision.candidate is not None
    assert decision.candidate.score == 8
    assert decision.scanner_clicks == 0


def test_every_link_fetched_within_seconds_of_delivery_gives_no_candidate() -> None:
    scanner = [click(1 + n * 0.1, n) for n in range(11)] + [click(2.2, None, kind="trap")]
    decision = promotion_candidate(scanner, RULES, delivered_at=DELIVERED, sent_at=SENT)
    assert decision.candidate is None
    assert decision.scanner_clicks == 12


def test_two_different_scores_within_the_window_are_a_scanner_even_late_and_from_a_browser() -> None:
    decision = promotion_candidate([click(900, 3), click(905, 9)], RULES, delivered_at=DELIVERED)
    assert decision.candidate is None


def test_the_same_score_clicked_twice_is_a_double_click_not_a_scanner() -> None:
    decision = promotion_candidate([click(900, 6), click(901, 6)], RULES, delivered_at=DELIVERED)
    assert decision.candidate is not None
    assert decision.candidate.score == 6


@pytest.mark.parametrize("signal", ["head", "trap", "scanner_agent", "early"])
def test_one_click_with_a_signal_makes_its_whole_burst_a_scanners(signal: str) -> None:
    decision = promotion_candidate([click(900, 9), click(903, 9, signals={signal})], RULES)
    assert decision.candidate is None


def test_a_head_request_is_never_the_candidate_even_alone_and_signal_free() -> None:
    decision = promotion_candidate([click(900, 9, method="HEAD")], RULES)
    assert decision.candidate is None


def test_a_person_clicking_after_the_scanner_burst_is_the_candidate() -> None:
    scanner = [click(2 + n * 0.1, n, signals={"early"}) for n in range(11)]
    decision = promotion_candidate([*scanner, click(1500, 4)], RULES, delivered_at=DELIVERED)
    assert decision.candidate is not None
    assert decision.candidate.score == 4
    assert decision.scanner_clicks == 11


def test_the_latest_person_click_wins_when_they_changed_their_mind_minutes_apart() -> None:
    decision = promotion_candidate([click(600, 2), click(1200, 7)], RULES, delivered_at=DELIVERED)
    assert decision.candidate is not None
    assert decision.candidate.score == 7


def test_a_delivery_learnt_after_the_click_makes_it_early_at_promotion() -> None:
    # stored without `early` (only the send was known: 70 s before), judged 20 s after delivery
    late_delivery = SENT + timedelta(seconds=50)
    stored = ClickSeen(SENT + timedelta(seconds=70), "survey", 5, "GET")
    assert promotion_candidate([stored], RULES, sent_at=SENT).candidate is not None
    assert promotion_candidate([stored], RULES, delivered_at=late_delivery, sent_at=SENT).candidate is None


scores = st.integers(min_value=0, max_value=10)


@given(st.lists(st.tuples(st.floats(min_value=61, max_value=86_400), scores), min_size=1, max_size=15))
def test_the_candidate_is_always_a_get_survey_click_outside_every_scanner_burst(moments) -> None:
    clicks = [click(at, score) for at, score in moments]
    decision = promotion_candidate(clicks, RULES, delivered_at=DELIVERED)
    scanner = {c.key for burst in decision.bursts if burst.is_scanner for c in burst.clicks}
    if decision.candidate is not None:
        assert decision.candidate.key not in scanner
        later = [c for c in clicks if c.clicked_at > decision.candidate.clicked_at and c.key not in scanner]
        assert later == []
    else:
        assert scanner == {c.key for c in clicks}


@given(st.lists(st.tuples(st.floats(min_value=0, max_value=86_400), scores), min_size=2, max_size=15))
def test_any_burst_with_two_scores_never_yields_its_clicks(moments) -> None:
    clicks = [click(at, score) for at, score in moments]
    decision = promotion_candidate(clicks, RULES, delivered_at=DELIVERED)
    for burst in decision.bursts:
        if len(burst.scores) > 1:
            assert decision.candidate not in burst.clicks
