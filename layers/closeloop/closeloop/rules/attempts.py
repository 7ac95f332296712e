"""What one call attempt says and what it does to its case (docs/data-model.md 4.15, 4.16, 7.4;
docs/callbacks.md "Logging an attempt"). Pure: no AWS, no clock.

The rules, in one place:
- `reached` and `declined` are exchanges: the case's first exchange if it has none.
- `reached` needs the promise the caller made (`none`, `solution_now`, `improvement_loop`) while
  the case is open; a `declined` call ("the customer does not want to talk") promises nothing.
- open -> closed when the promise is `none` or `solution_now` (the call is then the second
  exchange too); open -> awaiting_second with `improvement_loop`; awaiting_second -> closed when
  the caller delivered the promised answer (`second_exchange`). A declined call closes the case
  (`loop_closed`: the customer was heard and wants nothing more).
- failed outcomes (`no_answer`, `voicemail`, `wrong_number`) carry no promise, no score and no
  second exchange: the customer said nothing.
- a closed case takes no more attempts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Set
from dataclasses import dataclass

from closeloop.models.case import EXCHANGE_OUTCOMES, FAILED_OUTCOMES, OUTCOMES, PROMISES, TAGS_MAX

NOTES_MAX = 5_000
TAG = re.compile(r"^[a-z0-9_-]{1,40}$")
CLOSING_PROMISES = frozenset({"none", "solution_now"})


class AttemptRefused(ValueError):
    """The attempt breaks a rule; the message says which, for the person who logged it, in English
    (`str(error)`) and in French (`error.french`): `error.says(language)` picks the reader's."""

    def __init__(self, reason: str, french: str, *, closed: bool = False) -> None:
        super().__init__(reason)
        self.french = french
        self.closed = closed  # the case is closed: a conflict (reload), not a bad input

    def says(self, language: str) -> str:
        return self.french if language == "fr" else str(self)


def _fr(number: int) -> str:
    """A number as French writes it: 5 000."""
    return f"{number:,}".replace(",", "\u202f")


@dataclass(frozen=True)
class AttemptInput:
    """What the caller says about one call."""

    outcome: str
    notes: str | None = None
    tags: frozenset[str] = frozenset()
    confirmed_score: int | None = None
    promise: str | None = None
    wants_follow_up: bool | None = None
    second_exchange: bool = False


@dataclass(frozen=True)
class CaseState:
    """What the rule reads of the case as stored before the attempt."""

    status: str
    has_first_exchange: bool
    tags: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Transition:
    """What the attempt does to the case."""

    failed: bool  # counts in failed_attempt_count
    first_exchange: bool  # this attempt is the case's first exchange (if none was recorded meanwhile)
    second_exchange: bool  # this attempt is the second exchange
    status: str | None  # the new status, None when it stays
    promise: str | None  # SET on the case when not None
    new_tags: frozenset[str]  # tags the case does not carry yet

    @property
    def closes(self) -> bool:
        return self.status == "closed"


def clean_notes(notes: str | None) -> str | None:
    """Notes as stored: stripped, None when empty; AttemptRefused beyond 5,000 characters."""
    if notes is None:
        return None
    text = notes.strip()
    if len(text) > NOTES_MAX:
        raise AttemptRefused(
            f"notes are {NOTES_MAX:,} characters at most ({len(text):,} given)",
            f"les notes font {_fr(NOTES_MAX)} caractères au plus ({_fr(len(text))} reçus)",
        )
    return text or None


def check_tags(tags: Iterable[str], known: Set[str], active: Set[str]) -> frozenset[str]:
    """The tags, each a tag of the taxonomy that is active; AttemptRefused naming the first that is not."""
    chosen = frozenset(tags)
    for tag in sorted(chosen):
        if tag not in known:
            raise AttemptRefused(
                f"unknown tag: {tag} (see GET /taxonomy)", f"étiquette inconnue : {tag} (voir GET /taxonomy)"
            )
        if tag not in active:
            raise AttemptRefused(f"tag {tag} is no longer in use", f"l'étiquette {tag} n'est plus utilisée")
    return chosen


def transition(case: CaseState, attempt: AttemptInput) -> Transition:
    """What logging this attempt on this case does, or AttemptRefused with the reason."""
    if attempt.outcome not in OUTCOMES:
        raise AttemptRefused(
            f"outcome must be one of: {', '.join(OUTCOMES)}",
            f"outcome doit être l'une de ces valeurs : {', '.join(OUTCOMES)}",
        )
    if case.status == "closed":
        raise AttemptRefused(
            "the case is closed: it takes no more attempts",
            "le rappel est clos : il ne prend plus de tentatives",
            closed=True,
        )
    if attempt.promise is not None and attempt.promise not in PROMISES:
        raise AttemptRefused(
            f"promise must be one of: {', '.join(PROMISES)}",
            f"promise doit être l'une de ces valeurs : {', '.join(PROMISES)}",
        )
    if attempt.confirmed_score is not None and not 0 <= attempt.confirmed_score <= 10:
        raise AttemptRefused(
            "confirmed_score is a whole number from 0 to 10", "confirmed_score est un nombre entier de 0 à 10"
        )
    new_tags = attempt.tags - case.tags
    if len(case.tags) + len(new_tags) > TAGS_MAX:
        raise AttemptRefused(
            f"a case has {TAGS_MAX} tags at most (it has {len(case.tags)})",
            f"un rappel a {TAGS_MAX} étiquettes au plus (celui-ci en a {len(case.tags)})",
        )

    failed = attempt.outcome in FAILED_OUTCOMES
    if failed:
        said = [
            name
            for name, value in (
                ("promise", attempt.promise),
                ("confirmed_score", attempt.confirmed_score),
                ("wants_follow_up", attempt.wants_follow_up),
            )
            if value is not None
        ]
        if attempt.second_exchange:
            said.append("second_exchange")
        if said:
            raise AttemptRefused(
                f"a {attempt.outcome} call records no {', '.join(said)}: the customer was not heard",
                f"un appel {attempt.outcome} n'enregistre pas {', '.join(said)} : le client n'a pas été entendu",
            )
        return Transition(True, False, False, None, None, new_tags)

    exchange = attempt.outcome in EXCHANGE_OUTCOMES
    assert exchange
    if attempt.outcome == "declined":
        if attempt.promise not in (None, "none") or attempt.second_exchange:
            raise AttemptRefused("a declined call promises nothing", "un appel declined ne promet rien")
        if case.status == "open":
            return Transition(False, not case.has_first_exchange, False, "closed", "none", new_tags)
        return Transition(False, False, False, None, None, new_tags)

    # reached
    if case.status == "open":
        if attempt.second_exchange:
            raise AttemptRefused(
                "nothing was promised yet: record the promise (solution_now closes the case)",
                "rien n'a encore été promis : enregistrez la promesse (solution_now clôt le rappel)",
            )
        if attempt.promise is None:
            raise AttemptRefused(
                f"a reached call records what was promised: one of {', '.join(PROMISES)}",
                f"un appel reached enregistre ce qui a été promis, parmi : {', '.join(PROMISES)}",
            )
        closes = attempt.promise in CLOSING_PROMISES
        return Transition(
            failed=False,
            first_exchange=not case.has_first_exchange,
            second_exchange=attempt.promise == "solution_now",
            status="closed" if closes else "awaiting_second",
            promise=attempt.promise,
            new_tags=new_tags,
        )
    # awaiting_second: the customer hears back on what was promised, or a call in between
    if attempt.promise is not None and attempt.promise != "improvement_loop" and not attempt.second_exchange:
        raise AttemptRefused(
            "the problem is in the improvement loop: record second_exchange when it is answered",
            "le problème est dans la boucle d'amélioration : enregistrez second_exchange quand la réponse est donnée",
        )
    if attempt.second_exchange:
        return Transition(False, False, True, "closed", None, new_tags)
    return Transition(False, False, False, None, None, new_tags)
