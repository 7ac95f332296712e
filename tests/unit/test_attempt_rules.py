"""What a call attempt does to its case (closeloop.rules.attempts): exchanges, promises, status moves,
and the attempts refused with their reason."""

from __future__ import annotations

import pytest

from closeloop.rules.attempts import (
    AttemptInput,
    AttemptRefused,
    CaseState,
    check_tags,
    clean_notes,
    transition,
)

OPEN = CaseState("open", has_first_exchange=False)
REPLIED = CaseState("open", has_first_exchange=True)  # the customer replied to the fallback email
AWAITING = CaseState("awaiting_second", has_first_exchange=True)


@pytest.mark.parametrize("outcome", ["no_answer", "voicemail", "wrong_number"])
def test_a_failed_call_counts_as_failed_and_leaves_the_case_open(outcome: str) -> None:
    change = transition(OPEN, AttemptInput(outcome))

    assert change.failed
    assert (change.first_exchange, change.second_exchange, change.status, change.promise) == (False, False, None, None)


@pytest.mark.parametrize(
    ("promise", "status", "second"),
    [("none", "closed", False), ("solution_now", "closed", True), ("improvement_loop", "awaiting_second", False)],
)
def test_a_reached_call_is_the_first_exchange_and_moves_the_case_by_its_promise(
    promise: str, status: str, second: bool
) -> None:
    change = transition(OPEN, AttemptInput("reached", promise=promise))

    assert change.first_exchange
    assert not change.failed
    assert change.status == status
    assert change.promise == promise
    assert change.second_exchange is second
    assert change.closes is (status == "closed")


def test_a_reached_call_on_an_open_case_must_say_what_was_promised() -> None:
    with pytest.raises(AttemptRefused, match="records what was promised: one of none, solution_now"):
        transition(OPEN, AttemptInput("reached"))


def test_a_declined_call_is_an_exchange_that_closes_the_case_with_nothing_promised() -> None:
    change = transition(OPEN, AttemptInput("declined"))

    assert change.first_exchange
    assert (change.status, change.promise) == ("closed", "none")


def test_a_declined_call_cannot_promise_anything() -> None:
    with pytest.raises(AttemptRefused, match="declined call promises nothing"):
        transition(OPEN, AttemptInput("declined", promise="solution_now"))


def test_after_a_reply_the_call_is_not_the_first_exchange_but_still_records_the_promise() -> None:
    change = transition(REPLIED, AttemptInput("reached", promise="improvement_loop"))

    assert not change.first_exchange
    assert change.status == "awaiting_second"


def test_the_second_exchange_closes_a_case_awaiting_it() -> None:
    change = transition(AWAITING, AttemptInput("reached", second_exchange=True, wants_follow_up=False))

    assert change.second_exchange
    assert change.status == "closed"
    assert not change.first_exchange


def test_a_call_in_between_leaves_a_case_awaiting_its_second_exchange() -> None:
    assert transition(AWAITING, AttemptInput("reached", notes="the plan is on its way")).status is None
    assert transition(AWAITING, AttemptInput("no_answer")).failed


def test_a_second_exchange_needs_a_promise_made_first() -> None:
    with pytest.raises(AttemptRefused, match="nothing was promised yet"):
        transition(OPEN, AttemptInput("reached", promise="none", second_exchange=True))


@pytest.mark.parametrize(
    ("attempt", "named"),
    [
        (AttemptInput("no_answer", promise="none"), "promise"),
        (AttemptInput("voicemail", confirmed_score=3), "confirmed_score"),
        (AttemptInput("wrong_number", wants_follow_up=True), "wants_follow_up"),
        (AttemptInput("no_answer", second_exchange=True), "second_exchange"),
    ],
)
def test_a_failed_call_records_nothing_the_customer_would_have_said(attempt: AttemptInput, named: str) -> None:
    with pytest.raises(AttemptRefused, match=f"records no {named}"):
        transition(OPEN, attempt)


def test_a_closed_case_takes_no_more_attempts_and_says_so_as_a_conflict() -> None:
    with pytest.raises(AttemptRefused, match="closed") as refused:
        transition(CaseState("closed", True), AttemptInput("no_answer"))

    assert refused.value.closed


def test_a_case_holds_five_tags_at_most_counting_those_it_has() -> None:
    case = CaseState("open", False, frozenset({"price", "delay", "quality", "support"}))

    assert transition(case, AttemptInput("no_answer", tags=frozenset({"price", "invoice"}))).new_tags == {"invoice"}
    with pytest.raises(AttemptRefused, match="5 tags at most"):
        transition(case, AttemptInput("no_answer", tags=frozenset({"invoice", "contract"})))


@pytest.mark.parametrize("score", [-1, 11])
def test_a_confirmed_score_is_from_0_to_10(score: int) -> None:
    with pytest.raises(AttemptRefused, match="0 to 10"):
        transition(OPEN, AttemptInput("reached", promise="none", confirmed_score=score))


def test_unknown_and_retired_tags_are_named() -> None:
    known, active = {"price", "delay"}, {"price"}

    assert check_tags(["price"], known, active) == {"price"}
    with pytest.raises(AttemptRefused, match="unknown tag: parking"):
        check_tags(["price", "parking"], known, active)
    with pytest.raises(AttemptRefused, match="tag delay is no longer in use"):
        check_tags(["delay"], known, active)


def test_notes_are_stripped_and_5000_characters_at_most() -> None:
    assert clean_notes("  rappeler jeudi  ") == "rappeler jeudi"
    assert clean_notes("   ") is None
    assert clean_notes("é" * 5000) == "é" * 5000
    with pytest.raises(AttemptRefused, match="5,000 characters at most"):
        clean_notes("x" * 5001)


def test_each_refusal_says_its_reason_in_french_too_with_the_same_names_and_numbers() -> None:
    refusals = {
        "closed": (CaseState("closed", True), AttemptInput("no_answer")),
        "outcome": (OPEN, AttemptInput("called")),
        "promise": (OPEN, AttemptInput("reached", promise="everything")),
        "score": (OPEN, AttemptInput("reached", promise="none", confirmed_score=11)),
        "failed": (OPEN, AttemptInput("voicemail", confirmed_score=4)),
        "declined": (OPEN, AttemptInput("declined", promise="solution_now")),
        "reached": (OPEN, AttemptInput("reached")),
        "second": (OPEN, AttemptInput("reached", second_exchange=True)),
        "loop": (AWAITING, AttemptInput("reached", promise="none")),
        "tags": (
            CaseState("open", False, frozenset({"a", "b", "c", "d", "e"})),
            AttemptInput("no_answer", tags=frozenset({"f"})),
        ),
    }
    said: dict[str, AttemptRefused] = {}
    for name, (case, attempt) in refusals.items():
        with pytest.raises(AttemptRefused) as refused:
            transition(case, attempt)
        said[name] = refused.value

    assert said["closed"].says("fr") == "le rappel est clos : il ne prend plus de tentatives"
    assert said["closed"].says("en") == str(said["closed"]) == "the case is closed: it takes no more attempts"
    assert "reached, no_answer, voicemail, wrong_number, declined" in said["outcome"].says("fr")
    assert said["failed"].says("fr") == (
        "un appel voicemail n'enregistre pas confirmed_score : le client n'a pas été entendu"
    )
    assert said["tags"].says("fr") == "un rappel a 5 étiquettes au plus (celui-ci en a 5)"
    assert all(refusal.says("fr") != str(refusal) for refusal in said.values())


def test_tag_and_notes_refusals_in_french() -> None:
    with pytest.raises(AttemptRefused) as unknown:
        check_tags(["parking"], {"price"}, {"price"})
    with pytest.raises(AttemptRefused) as retired:
        check_tags(["delay"], {"delay"}, set())
    with pytest.raises(AttemptRefused) as long_notes:
        clean_notes("x" * 5001)

    assert unknown.value.says("fr") == "étiquette inconnue : parking (voir GET /taxonomy)"
    assert retired.value.says("fr") == "l'étiquette delay n'est plus utilisée"
    assert long_notes.value.says("fr") == "les notes font 5\u202f000 caractères au plus (5\u202f001 reçus)"
