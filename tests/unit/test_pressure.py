"""R2, survey pressure, as pure rules: at most 2 surveys per rolling 12 months, 3 months apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from closeloop.rules.pressure import (
    PressureRules,
    bounds,
    complies,
    entry_for,
    evaluate,
    months_before,
    parse_entry,
)

RULES = PressureRules()
T = datetime(2027, 6, 15, 8, 0, tzinfo=UTC)


def ledger(*moments: datetime, wave: str = "W") -> list[str]:
    return sorted((entry_for(moment, f"{wave}{i}") for i, moment in enumerate(moments)), reverse=True)


def test_a_month_earlier_than_the_31st_is_the_last_day_of_the_shorter_month() -> None:
    may_31 = datetime(2027, 5, 31, 8, 0, tzinfo=UTC)  # 10:00 in Paris (summer time), 09:00 UTC in February
    assert months_before(may_31, 3, "Europe/Paris") == datetime(2027, 2, 28, 9, 0, tzinfo=UTC)
    assert months_before(may_31.replace(year=2028), 3, "Europe/Paris") == datetime(2028, 2, 29, 9, 0, tzinfo=UTC)


def test_months_are_counted_on_the_wall_clock_of_the_programme_across_a_clock_change() -> None:
    # 10:00 in Paris in summer (08:00 UTC) is 10:00 in Paris in winter (09:00 UTC), 6 months earlier
    assert months_before(T, 6, "Europe/Paris") == datetime(2026, 12, 15, 9, 0, tzinfo=UTC)


def test_a_contact_never_surveyed_is_claimed_with_a_ledger_of_one_entry() -> None:
    verdict = evaluate([], wave_id="NEW", at=T, rules=RULES)

    assert verdict.outcome == "claim"
    assert verdict.ledger == (entry_for(T, "NEW"),)
    assert parse_entry(verdict.entry) == (T, "NEW")


def test_a_survey_less_than_3_months_ago_skips_the_contact_for_the_gap() -> None:
    verdict = evaluate(ledger(T - timedelta(days=80)), wave_id="NEW", at=T, rules=RULES)

    assert (verdict.outcome, verdict.reason) == ("skip", "pressure_gap")


def test_a_survey_exactly_3_calendar_months_ago_allows_the_next_one() -> None:
    verdict = evaluate(ledger(datetime(2027, 3, 15, 9, 0, tzinfo=UTC)), wave_id="NEW", at=T, rules=RULES)

    assert verdict.outcome == "claim"


def test_two_surveys_in_the_last_12_months_skip_the_contact_for_the_maximum() -> None:
    verdict = evaluate(ledger(T - timedelta(days=300), T - timedelta(days=150)), wave_id="NEW", at=T, rules=RULES)

    assert (verdict.outcome, verdict.reason) == ("skip", "pressure_max")


def test_a_survey_older_than_12_months_no_longer_counts_and_leaves_the_ledger() -> None:
    old, recent = entry_for(T - timedelta(days=400), "OLD"), entry_for(T - timedelta(days=150), "RECENT")

    verdict = evaluate([recent, old], wave_id="NEW", at=T, rules=RULES)

    assert verdict.outcome == "claim"
    assert verdict.ledger == (entry_for(T, "NEW"), recent)


def test_a_contact_already_claimed_by_the_wave_is_recognised_whatever_the_rule_says() -> None:
    verdict = evaluate([entry_for(T, "SAME")], wave_id="SAME", at=T, rules=RULES)

    assert verdict.outcome == "claimed"


def test_a_survey_planned_later_than_this_one_refuses_it_rather_than_squeezing_it_in() -> None:
    verdict = evaluate(ledger(T + timedelta(days=200)), wave_id="NEW", at=T, rules=RULES)

    assert (verdict.outcome, verdict.reason) == ("skip", "pressure_gap")


def test_the_gap_is_the_reason_given_when_both_parts_refuse() -> None:
    verdict = evaluate(ledger(T - timedelta(days=200), T - timedelta(days=30)), wave_id="NEW", at=T, rules=RULES)

    assert verdict.reason == "pressure_gap"


def test_the_rules_follow_the_settings() -> None:
    strict = PressureRules(max_per_window=1, window_months=12, min_gap_months=0)

    assert evaluate(ledger(T - timedelta(days=200)), wave_id="N", at=T, rules=strict).reason == "pressure_max"
    assert evaluate(ledger(T - timedelta(days=200)), wave_id="N", at=T, rules=RULES).outcome == "claim"


moments = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2029, 12, 31), timezones=st.just(UTC)).map(
    lambda moment: moment.replace(microsecond=0)
)


def _stored_condition_holds(stored: list[str], at: datetime, rules: PressureRules) -> bool:
    """The conditional write's date terms, as DynamoDB compares strings."""
    limits = bounds(at, rules)
    newest_ok = not stored or stored[0] <= limits.gap
    window_ok = len(stored) <= limits.window_index or stored[limits.window_index] <= limits.window
    return newest_ok and window_ok


@settings(max_examples=300, deadline=None)
@given(st.lists(moments, max_size=12))
def test_claiming_in_time_order_never_breaks_r2_and_the_stored_condition_agrees_with_the_code(
    times: list[datetime],
) -> None:
    stored: list[str] = []
    surveyed: list[datetime] = []
    for index, moment in enumerate(sorted(times)):
        verdict = evaluate(stored, wave_id=f"W{index:03d}", at=moment, rules=RULES)
        assert (verdict.outcome == "claim") == _stored_condition_holds(stored, moment, RULES)
        if verdict.outcome == "claim":
            stored = list(verdict.ledger)
            surveyed.append(moment)
    assert complies(surveyed, RULES)


@given(moments, st.integers(min_value=0, max_value=88 * 24))
def test_complies_refuses_two_surveys_less_than_3_months_apart(first: datetime, hours: int) -> None:
    # three calendar months are at least 89 days (February, March, April)
    assert not complies([first, first + timedelta(hours=hours)], RULES)


def test_complies_refuses_three_surveys_in_12_months_even_3_months_apart() -> None:
    assert not complies([T, T + timedelta(days=120), T + timedelta(days=240)], RULES)
    assert complies([T, T + timedelta(days=120), T + timedelta(days=370)], RULES)
