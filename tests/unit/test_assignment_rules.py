"""Who calls a respondent back: the account owner with room, else the least loaded caller relative
to capacity (ties by staff id), over capacity rather than nobody; the ledger of recent picks."""

from __future__ import annotations

from fractions import Fraction

from hypothesis import given
from hypothesis import strategies as st

from closeloop.rules.assignment import Candidate, Pick, PickLedger, pick_assignee


def caller(staff_id: str, open_cases: int = 0, capacity: int = 20, **state: bool) -> Candidate:
    return Candidate(staff_id, open_cases, capacity, **state)


def test_the_account_owner_takes_their_customer_while_they_have_room() -> None:
    owner = caller("OWNER", open_cases=19)
    assert pick_assignee(owner, [caller("A"), owner]) == Pick("OWNER", "owner")


def test_a_full_inactive_or_non_caller_owner_gives_way_to_the_pool() -> None:
    pool = [caller("B", 5, 10), caller("A", 10, 40)]  # 50% against 25%
    for owner in (
        caller("OWNER", 20, 20),
        caller("OWNER", active=False),
        caller("OWNER", in_pool=False),
        caller("OWNER", 0, 0),
    ):
        assert pick_assignee(owner, pool) == Pick("A", "load")


def test_load_is_relative_to_capacity_and_ties_go_to_the_lower_staff_id() -> None:
    assert pick_assignee(None, [caller("C", 4, 8), caller("B", 2, 4), caller("D", 3, 4)]) == Pick("B", "load")


def test_when_everyone_is_full_the_least_loaded_over_capacity_still_gets_the_case() -> None:
    pool = [caller("A", 30, 20), caller("B", 11, 10), caller("NEVER", 0, 0)]
    assert pick_assignee(None, pool) == Pick("B", "load")


def test_nobody_only_when_no_caller_can_ever_take_a_case() -> None:
    assert pick_assignee(None, []) is None
    assert pick_assignee(None, [caller("NEVER", 0, 0), caller("GONE", active=False)]) is None


def test_who_hands_a_case_back_is_left_out_even_as_the_owner() -> None:
    owner = caller("OWNER")
    assert pick_assignee(owner, [owner, caller("B", 10)], exclude=frozenset({"OWNER"})) == Pick("B", "load")
    assert pick_assignee(owner, [owner], exclude=frozenset({"OWNER"})) is None


candidates = st.builds(
    Candidate,
    staff_id=st.text("ABCDEFGH", min_size=1, max_size=3),
    open_cases=st.integers(0, 60),
    capacity=st.integers(0, 40),
    active=st.booleans(),
    in_pool=st.booleans(),
)


@given(
    st.one_of(st.none(), candidates),
    st.lists(candidates, max_size=12),
    st.frozensets(st.text("ABCD", min_size=1, max_size=2)),
)
def test_the_pick_follows_the_rule_and_is_the_same_whatever_the_order(
    owner: Candidate | None, pool: list[Candidate], exclude: frozenset[str]
) -> None:
    pick = pick_assignee(owner, pool, exclude=exclude)
    assert pick == pick_assignee(owner, list(reversed(pool)), exclude=exclude)
    takers = [found for found in pool if found.can_take and found.staff_id not in exclude]
    if owner is not None and owner.has_room and owner.staff_id not in exclude:
        assert pick == Pick(owner.staff_id, "owner")
        return
    if not takers:
        assert pick is None
        return
    assert pick is not None
    assert pick.kind == "load"
    chosen = [found for found in takers if found.staff_id == pick.staff_id]
    assert chosen, "the pick is a caller who may take it"
    with_room = [found for found in takers if found.has_room]
    field = with_room or takers
    best = min((Fraction(found.open_cases, found.capacity), found.staff_id) for found in field)
    assert (min(Fraction(found.open_cases, found.capacity) for found in chosen), pick.staff_id) == best


@given(st.lists(st.integers(1, 30), min_size=2, max_size=20), st.integers(1, 300))
def test_repeated_picks_with_the_ledger_keep_equal_callers_within_one_case(capacities: list[int], cases: int) -> None:
    # equal capacities: the picks of one container spread evenly though the stored loads never move
    pool = [caller(f"S{n:02}", 0, 10) for n in range(len(capacities))]
    ledger = PickLedger()
    given_to: dict[str, int] = {}
    for _ in range(cases):
        pick = pick_assignee(None, [ledger.effective(found, 0.0) for found in pool])
        assert pick is not None
        ledger.note(pick.staff_id, 0, 0.0)
        given_to[pick.staff_id] = given_to.get(pick.staff_id, 0) + 1
    counts = [given_to.get(found.staff_id, 0) for found in pool]
    assert max(counts) - min(counts) <= 1


def test_the_ledger_trusts_the_stored_load_once_it_has_caught_up_or_after_its_horizon() -> None:
    ledger = PickLedger(horizon=60)
    ledger.note("A", 3, at=0)
    ledger.note("A", 3, at=1)
    assert ledger.effective(caller("A", 3), at=2).open_cases == 5  # the counters are behind
    assert ledger.effective(caller("A", 4), at=2).open_cases == 5  # one of the two counted
    assert ledger.effective(caller("A", 6), at=2).open_cases == 6  # caught up (and more): stored
    assert len(ledger) == 0
    ledger.note("B", 3, at=0)
    assert ledger.effective(caller("B", 2), at=61).open_cases == 2  # a minute on: the stored value
