"""What one invitation adds to the counters (Stats `mail`, the wave's delivery counts), as a pure
rule: the participation rate's denominator and what happened to every email."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from closeloop.rules.mail_counters import MAIL_METRIC, contribution, delta, total
from closeloop.rules.nps_counters import STATS, WAVE, Target

SENT = {
    "invitation_id": "k3v7aaaaaaaaaaaaaaaaaaaaaa",
    "wave_id": "01JWAVE",
    "contact_id": "01JCONTACT",
    "segment": "pharmacy",
    "language": "fr",
    "month": "2027-03",
    "status": "sent",
    "email_hash": "9f2c",
    "first": {"state": "sent", "batch_id": "01JBATCH", "attempts": Decimal(1)},
}


def _with(**changes: Any) -> dict[str, Any]:
    return {**SENT, **changes}


def test_a_sent_invitation_counts_targeted_reserved_and_sent_in_the_nine_scopes_and_nothing_on_its_wave() -> None:
    counts = contribution(SENT)

    scopes = {target.key for target in counts if target.table == STATS}
    assert scopes == {
        "all",
        "wave#01JWAVE",
        "segment#pharmacy",
        "language#fr",
        "month#2027-03",
        "month#2027-03/segment#pharmacy",
        "month#2027-03/language#fr",
        "wave#01JWAVE/segment#pharmacy",
        "wave#01JWAVE/language#fr",
    }
    assert counts[Target(STATS, "all", MAIL_METRIC)] == {
        "targeted": Decimal(1),
        "reserved": Decimal(1),
        "sent": Decimal(1),
    }
    assert Target(WAVE, "01JWAVE") not in counts  # planning and dispatch_ledger count those


def test_a_delivery_counts_delivered_on_stats_and_on_the_wave() -> None:
    moved = delta(_with(status="delivered", delivered_at="2027-03-02T08:15:02.000000+0000"), SENT)

    assert moved[Target(STATS, "language#fr", MAIL_METRIC)] == {"delivered": Decimal(1)}
    assert moved[Target(WAVE, "01JWAVE")] == {"delivered": Decimal(1)}
    assert len(moved) == 10


def test_an_uncertain_email_settled_as_sent_moves_from_uncertain_to_sent() -> None:
    uncertain = _with(status="uncertain", first={"state": "uncertain"})

    moved = delta(_with(first={"state": "sent"}), uncertain)

    assert moved[Target(STATS, "all", MAIL_METRIC)] == {"uncertain": Decimal(-1), "sent": Decimal(1)}
    assert Target(WAVE, "01JWAVE") not in moved


def test_bounces_complaints_and_an_undone_unsubscribe_are_counted_by_their_times() -> None:
    later = _with(bounced_at="t", complained_at="t", unsubscribed_at="t", reminded_at="t")

    assert delta(later, SENT)[Target(WAVE, "01JWAVE")] == {
        "bounced": Decimal(1),
        "complained": Decimal(1),
        "unsubscribed": Decimal(1),
    }
    assert delta(later, SENT)[Target(STATS, "all", MAIL_METRIC)]["reminded"] == Decimal(1)
    undone = delta(_with(bounced_at="t", complained_at="t", reminded_at="t"), later)
    assert undone[Target(WAVE, "01JWAVE")] == {"unsubscribed": Decimal(-1)}


def test_a_contact_skipped_at_planning_counts_targeted_and_skipped_only() -> None:
    skipped = {key: SENT[key] for key in ("invitation_id", "wave_id", "segment", "language", "month")}

    counts = contribution({**skipped, "status": "skipped", "skip_reason": "suppressed"})

    assert counts[Target(STATS, "all", MAIL_METRIC)] == {"targeted": Decimal(1), "skipped": Decimal(1)}


def test_no_item_and_an_item_without_an_id_count_nothing() -> None:
    assert contribution(None) == {}
    assert contribution({"wave_id": "01JWAVE"}) == {}


changes = st.fixed_dictionaries(
    {},
    optional={
        "delivered_at": st.just("t"),
        "bounced_at": st.just("t"),
        "complained_at": st.just("t"),
        "unsubscribed_at": st.just("t"),
        "first": st.sampled_from([{"state": s} for s in ("reserved", "sent", "uncertain", "failed", "skipped")]),
        "language": st.sampled_from(["fr", "en"]),
    },
)


@given(st.lists(changes, min_size=1, max_size=8))
def test_the_deltas_of_successive_images_add_up_to_the_last_image_counted_alone(history: list[dict[str, Any]]) -> None:
    images = [_with(**change) for change in history]
    applied: dict[Target, dict[str, Decimal]] = {}
    previous: dict[str, Any] | None = None
    for image in images:
        for target, values in delta(image, previous).items():
            into = applied.setdefault(target, {})
            for name, value in values.items():
                into[name] = into.get(name, Decimal(0)) + value
        previous = image

    nonzero = {t: {n: v for n, v in vs.items() if v} for t, vs in applied.items()}
    assert {t: vs for t, vs in nonzero.items() if vs} == total([images[-1]])
