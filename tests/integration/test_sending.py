"""The sender: every survey email at most once, whatever SQS, SES or a crash does.

Each test drives the real sender handler against moto (tables, queue and SES identity from
template.yaml), with an SES client that counts what SES accepted by the X-Closeloop-Invitation
header, then feeds the SendBatches stream to dispatch_ledger and looks at the invitations and
the wave as a manager would see them.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest

from closeloop.models import Contact, Invitation, ReplyToken, SendBatch, Suppression, Wave
from closeloop.rules.pressure import entry_for
from closeloop.services import sending
from closeloop.settings import get_settings
from closeloop.tokens import reply_token_hash
from closeloop_local.template import ResolvedTemplate
from tests.integration.dispatch import (
    REGION,
    Injected,
    LedgerStream,
    body,
    deliver,
    make_contact,
    make_wave,
    rejected,
    reserve,
    sent_messages,
    spy_ses,
    throttled,
)


@pytest.fixture
def ready(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    """This process configured as the sender function, with deferred attempts due at once (SQS
    delays run on real time) and a send rate that does not slow the tests down."""
    for name, value in stack.functions["SenderFunction"].environment.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sending, "retry_delay_seconds", lambda _attempt: 0)
    monkeypatch.setenv("MAX_SEND_RATE", "1000")
    get_settings.cache_clear()
    return stack


def _queued() -> list[dict[str, Any]]:
    """Messages waiting on the send queue (received and deleted, as the sender's mapping would)."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = get_settings().send_queue_url
    found: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return found
        for message in messages:
            found.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def _invitations(ids: list[str]) -> dict[str, Invitation]:
    return {item.invitation_id: item for item in Invitation.batch_get(ids, consistent_read=True)}


def _outcomes(batch_id: str) -> dict[str, dict[str, Any]]:
    outcomes: dict[str, dict[str, Any]] = SendBatch.get(batch_id, consistent_read=True).outcomes.as_dict()
    return outcomes


def test_a_batch_goes_out_once_per_invitation_and_its_outcomes_reach_invitations_and_wave(ready: Any) -> None:
    # Given a wave with three reserved invitations in one batch, in French and English
    wave = make_wave(planning_done=True, reserved=3)
    contacts = [
        make_contact("anne@cabinet.example", language="fr"),
        make_contact("james@northgate.example", first_name="James", language="en"),
        make_contact("lea@pharmacie.example", first_name="Léa", language="fr"),
    ]
    batch_id, ids = reserve(wave, contacts)
    ses = spy_ses()

    # When the send queue delivers the batch, then the ledger's stream is applied
    answer = deliver(body(wave, batch_id, ids))
    LedgerStream().apply()

    # Then each contact got exactly one email, in their language, and nothing else went out
    assert answer == {"batchItemFailures": []}
    assert ses.accepted == dict.fromkeys(ids, 1)
    emails = {message["X-Closeloop-Invitation"]: message for message in sent_messages()}
    assert set(emails) == set(ids)
    assert emails[ids[1]]["To"] == "james@northgate.example"
    assert emails[ids[1]]["Subject"] == "Your opinion matters to us"
    assert emails[ids[0]]["Subject"] == "Votre avis compte pour nous"
    # and each invitation shows its email sent, with SES's message id and the reply token's hash
    invitations = _invitations(ids)
    for invitation_id, invitation in invitations.items():
        assert invitation.status == "sent"
        assert invitation.first.state == "sent"
        assert invitation.first.message_id
        assert invitation.first.batch_id == batch_id
        reply_to = emails[invitation_id]["Reply-To"]
        token = reply_to.split("+", 1)[1].split("@", 1)[0]
        assert invitation.first.reply_token_hash == reply_token_hash(token)
        stored = ReplyToken.get(reply_token_hash(token))
        assert (stored.kind, stored.object_id, stored.step) == ("invitation", invitation_id, "first")
        assert invitation.email_hash == next(c.email_hash for c in contacts if c.contact_id == invitation.contact_id)
    # and the wave counts them and is sent, planning being done
    wave.refresh()
    assert (wave.sent, wave.finished, wave.failed, wave.uncertain) == (3, 3, 0, 0)
    assert wave.status == "sent"


def test_a_redelivered_message_sends_nothing_more_and_marks_nothing_uncertain(ready: Any) -> None:
    wave = make_wave()
    batch_id, ids = reserve(wave, [make_contact("anne@cabinet.example"), make_contact("paul@officine.example")])
    ses = spy_ses()
    deliver(body(wave, batch_id, ids))

    # When SQS delivers the same message again (its visibility timeout ran out, say)
    answer = deliver(body(wave, batch_id, ids))

    assert answer == {"batchItemFailures": []}
    assert ses.accepted == dict.fromkeys(ids, 1)
    assert {key: value["state"] for key, value in _outcomes(batch_id).items()} == dict.fromkeys(ids, "sent")


def test_a_duplicate_delivered_while_the_batch_is_sending_sends_nothing_and_the_truth_wins(ready: Any) -> None:
    wave = make_wave()
    batch_id, ids = reserve(wave, [make_contact(f"client{n}@cabinet.example") for n in range(3)])
    ses = spy_ses()
    stream = LedgerStream()
    duplicate: list[dict[str, Any]] = []
    # Given a duplicate of the message that arrives while the first delivery is between two sends
    ses.during = lambda: duplicate.append(deliver(body(wave, batch_id, ids)))

    deliver(body(wave, batch_id, ids))
    assert stream.apply() == {"batchItemFailures": []}

    # The duplicate found the attempt claimed: it sent nothing and marked the batch uncertain,
    # then the first delivery recorded what really happened
    assert duplicate == [{"batchItemFailures": []}]
    assert ses.accepted == dict.fromkeys(ids, 1)
    assert {key: value["state"] for key, value in _outcomes(batch_id).items()} == dict.fromkeys(ids, "sent")
    assert {item.status for item in _invitations(ids).values()} == {"sent"}
    wave.refresh()
    assert (wave.sent, wave.uncertain, wave.finished) == (3, 0, 3)


def test_a_crash_between_the_ses_call_and_the_record_leaves_those_emails_uncertain_never_resent(
    ready: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    wave = make_wave()
    batch_id, ids = reserve(wave, [make_contact(f"client{n}@cabinet.example") for n in range(3)])
    ses = spy_ses()
    record = sending._record

    def crash(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the function died before recording what SES accepted")

    # Given a sender that dies after SES accepted the emails, before recording them
    monkeypatch.setattr(sending, "_record", crash)
    first = deliver(body(wave, batch_id, ids))
    monkeypatch.setattr(sending, "_record", record)

    # When SQS delivers the message again
    second = deliver(body(wave, batch_id, ids))
    LedgerStream().apply()

    # Then nobody got a second email, and the three are uncertain on the invitations and the wave
    assert first == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}
    assert second == {"batchItemFailures": []}
    assert ses.accepted == dict.fromkeys(ids, 1)
    assert {item.status for item in _invitations(ids).values()} == {"uncertain"}
    wave.refresh()
    assert (wave.uncertain, wave.sent, wave.finished) == (3, 0, 3)


def test_an_unanswered_ses_call_is_uncertain_and_never_repeated(ready: Any) -> None:
    wave = make_wave()
    batch_id, ids = reserve(wave, [make_contact("anne@cabinet.example"), make_contact("paul@officine.example")])
    ses = spy_ses(lambda n, _i: Injected(lose_answer=True) if n == 1 else None)

    deliver(body(wave, batch_id, ids))
    LedgerStream().apply()

    assert ses.calls == ids
    assert {i: item.status for i, item in _invitations(ids).items()} == {ids[0]: "uncertain", ids[1]: "sent"}
    assert _outcomes(batch_id)[ids[0]]["error"] == "ReadTimeoutError"
    assert _queued() == []


def test_a_throttled_email_is_deferred_then_sent_once_in_a_later_attempt_of_the_same_batch(ready: Any) -> None:
    # Given SES throttling the second and the third call
    wave = make_wave(planning_done=True, reserved=3)
    batch_id, ids = reserve(wave, [make_contact(f"client{n}@cabinet.example") for n in range(3)])
    ses = spy_ses(lambda n, _i: Injected(before=throttled()) if n in (2, 3) else None)
    stream = LedgerStream()

    deliver(body(wave, batch_id, ids))
    stream.apply()

    # Then the two are deferred, and a second attempt of the same batch holds only them
    again = _queued()
    assert again == [
        {"batch_id": batch_id, "wave_id": wave.wave_id, "step": "first", "invitation_ids": ids[1:], "attempt": 2}
    ]
    assert {i: item.status for i, item in _invitations(ids).items()} == {
        ids[0]: "sent",
        ids[1]: "deferred",
        ids[2]: "deferred",
    }
    wave.refresh()
    assert wave.status == "sending"

    # When that attempt comes back through the queue, and is even delivered twice
    deliver(json.dumps(again[0]))
    deliver(json.dumps(again[0]))
    stream.apply()

    # Then everyone has exactly one email and the wave is sent
    assert ses.accepted == dict.fromkeys(ids, 1)
    assert {item.status for item in _invitations(ids).values()} == {"sent"}
    assert {item.first.attempts for item in _invitations(ids[1:]).values()} == {2}
    wave.refresh()
    assert (wave.sent, wave.finished, wave.status) == (3, 3, "sent")
    assert _queued() == []


def test_an_email_ses_keeps_rejecting_fails_after_the_allowed_attempts(
    ready: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MAX_SEND_ATTEMPTS", "2")
    get_settings.cache_clear()
    wave = make_wave()
    batch_id, ids = reserve(wave, [make_contact("anne@cabinet.example")])
    ses = spy_ses(lambda _n, _i: Injected(before=rejected()))
    stream = LedgerStream()

    deliver(body(wave, batch_id, ids))
    second = _queued()
    deliver(json.dumps(second[0]))
    stream.apply()

    assert second[0]["attempt"] == 2
    assert ses.calls == ids * 2
    assert ses.accepted == {}
    assert _queued() == []
    invitation = _invitations(ids)[ids[0]]
    assert (invitation.status, invitation.first.error) == ("failed", "MessageRejected")
    wave.refresh()
    assert (wave.failed, wave.finished) == (1, 1)


def test_a_rendering_error_for_one_contact_fails_that_invitation_and_the_others_go_out(ready: Any) -> None:
    wave = make_wave()
    good = [make_contact("anne@cabinet.example"), make_contact("paul@officine.example")]
    broken = make_contact("paul@officine.example")  # overwritten below with an address no header can hold
    broken.email = "jean dupont@@cabinet"
    broken.save()
    batch_id, ids = reserve(wave, [good[0], broken, good[1]])
    ses = spy_ses()

    answer = deliver(body(wave, batch_id, ids))
    LedgerStream().apply()

    assert answer == {"batchItemFailures": []}
    assert ses.accepted == {ids[0]: 1, ids[2]: 1}
    invitations = _invitations(ids)
    assert (invitations[ids[1]].status, invitations[ids[1]].first.error) == ("failed", "render")
    wave.refresh()
    assert (wave.sent, wave.failed, wave.finished) == (2, 1, 3)


def test_an_address_suppressed_since_planning_is_skipped_at_send(
    ready: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    wave = make_wave()
    contacts = [make_contact("anne@cabinet.example"), make_contact("paul@officine.example")]
    batch_id, ids = reserve(wave, contacts)
    Suppression(contacts[1].email_hash, reason="unsubscribe", source="link").save()
    ses = spy_ses()
    capsys.readouterr()

    deliver(body(wave, batch_id, ids))
    LedgerStream().apply()

    assert ses.calls == [ids[0]]
    skipped = _invitations(ids)[ids[1]]
    assert (skipped.status, skipped.skip_reason) == ("skipped", "suppressed")
    wave.refresh()
    assert (wave.sent, wave.send_skipped, wave.finished) == (1, 1, 2)
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    values = {name: document[name] for document in emitted for name in document if name.startswith("invitations_")}
    assert values["invitations_sent"] in (1, 1.0, [1.0])
    assert values["invitations_skipped_suppressed"] in (1, 1.0, [1.0])


def test_first_emails_that_end_unsent_give_their_survey_back_and_those_sent_keep_it(ready: Any) -> None:
    # Given three contacts claimed by the wave (R2): one suppressed since, one with a broken address
    wave = make_wave()
    entry = entry_for(wave.starts_at, wave.wave_id)
    contacts = [
        make_contact("anne@cabinet.example", survey_dates=[entry]),
        make_contact("paul@officine.example", survey_dates=[entry]),
        make_contact("zoe@labo.example", survey_dates=[entry], email="zoe dupont@@labo"),
    ]
    batch_id, ids = reserve(wave, contacts)
    for invitation_id in ids:
        Invitation(invitation_id).update(actions=[Invitation.survey_entry.set(entry)])
    Suppression(contacts[1].email_hash, reason="unsubscribe", source="link").save()
    spy_ses()
    stream = LedgerStream()

    # When the batch is sent and the ledger's stream applied, then applied again (a retried record)
    deliver(body(wave, batch_id, ids))
    records = stream.read()
    assert stream.apply(records) == {"batchItemFailures": []}
    assert stream.apply(records) == {"batchItemFailures": []}

    # Then only the contact who got the email is still counted as surveyed
    ledgers = {c.contact_id: Contact.get(c.contact_id, consistent_read=True).survey_dates for c in contacts}
    assert ledgers == {contacts[0].contact_id: [entry], contacts[1].contact_id: [], contacts[2].contact_id: []}
    states = {i: (inv.status, inv.first.state) for i, inv in _invitations(ids).items()}
    assert states == {ids[0]: ("sent", "sent"), ids[1]: ("skipped", "skipped"), ids[2]: ("failed", "failed")}


def test_a_cancelled_wave_sends_nothing_and_leaves_its_batches_unclaimed_for_the_release(ready: Any) -> None:
    wave = make_wave(status="cancelled")
    batch_id, ids = reserve(wave, [make_contact("anne@cabinet.example")])
    ses = spy_ses()

    answer = deliver(body(wave, batch_id, ids))

    assert answer == {"batchItemFailures": []}
    assert ses.calls == []
    with pytest.raises(SendBatch.DoesNotExist):
        SendBatch.get(batch_id)


def test_a_batch_taken_by_a_cancelled_waves_release_is_never_sent_even_from_a_stale_cache(ready: Any) -> None:
    # Given a sender whose cached wave still says "sending", and a batch nobody claimed yet
    wave = make_wave()
    batch_id, ids = reserve(wave, [make_contact("anne@cabinet.example")])
    ses = spy_ses()
    assert sending._wave(wave.wave_id).status == "sending"
    # When the wave is cancelled and its release takes the unclaimed batch
    Wave(wave.wave_id).update(actions=[Wave.status.set("cancelled")], add_version_condition=False)
    taken = sending.cancel_unclaimed_batches(wave.wave_id, "first", [batch_id])

    result = sending.send_message(body(wave, batch_id, ids))

    # Then the sender's claim loses: nothing is sent, nothing is recorded
    assert taken == {batch_id}
    assert (result.claimed, ses.calls) == (False, [])
    assert _outcomes(batch_id) == {}


def test_the_release_leaves_a_batch_the_sender_claimed_first_to_the_sender(ready: Any) -> None:
    wave = make_wave()
    batch_id, ids = reserve(wave, [make_contact("anne@cabinet.example")])
    ses = spy_ses()
    deliver(body(wave, batch_id, ids))

    taken = sending.cancel_unclaimed_batches(wave.wave_id, "first", [batch_id])

    assert taken == set()
    assert ses.accepted == {ids[0]: 1}
    assert _outcomes(batch_id)[ids[0]]["state"] == "sent"


def test_a_deferred_attempt_of_a_wave_cancelled_since_ends_skipped_unsent(ready: Any) -> None:
    wave = make_wave()
    batch_id, ids = reserve(wave, [make_contact("anne@cabinet.example")])
    ses = spy_ses(lambda n, _i: Injected(before=throttled()) if n == 1 else None)
    stream = LedgerStream()
    deliver(body(wave, batch_id, ids))
    [again] = _queued()

    Wave(wave.wave_id).update(actions=[Wave.status.set("cancelled")], add_version_condition=False)
    sending.forget()
    deliver(json.dumps(again))
    stream.apply()

    assert ses.accepted == {}
    invitation = _invitations(ids)[ids[0]]
    assert (invitation.status, invitation.skip_reason) == ("skipped", "cancelled")


def test_a_batch_running_out_of_time_defers_the_rest_instead_of_risking_it(ready: Any) -> None:
    wave = make_wave()
    batch_id, ids = reserve(wave, [make_contact(f"client{n}@cabinet.example") for n in range(3)])
    ses = spy_ses()
    left = iter([60_000, 1_000, 1_000])

    result = sending.send_message(body(wave, batch_id, ids), remaining_ms=lambda: next(left))

    assert ses.calls == ids[:1]
    assert result.outcomes == {ids[0]: "sent", ids[1]: "deferred", ids[2]: "deferred"}
    assert [message["invitation_ids"] for message in _queued()] == [ids[1:]]


def test_a_message_that_is_not_a_send_request_fails_alone_and_the_others_are_sent(ready: Any) -> None:
    wave = make_wave()
    batch_id, ids = reserve(wave, [make_contact("anne@cabinet.example")])
    ses = spy_ses()

    answer = deliver('{"batch_id": "x", "invitation_ids": "not a list"}', body(wave, batch_id, ids), "not json")

    assert answer == {"batchItemFailures": [{"itemIdentifier": "message-0"}, {"itemIdentifier": "message-2"}]}
    assert ses.accepted == {ids[0]: 1}


def test_a_reminder_is_worded_as_one_and_skips_those_who_answered_since(ready: Any) -> None:
    wave = make_wave()
    contacts = [make_contact("anne@cabinet.example"), make_contact("paul@officine.example")]
    batch_id, ids = reserve(wave, contacts, step="reminder")
    answered = Invitation.get(ids[1])
    answered.update(actions=[Invitation.responded_at.set(wave.starts_at)])
    spy_ses()

    deliver(body(wave, batch_id, ids, step="reminder"))
    LedgerStream().apply()

    [reminder] = sent_messages()
    assert reminder["Subject"] == "Rappel : Votre avis compte pour nous"
    assert reminder["X-Closeloop-Step"] == "reminder"
    invitations = _invitations(ids)
    assert (invitations[ids[0]].reminder.state, invitations[ids[0]].status) == ("sent", "sent")
    assert invitations[ids[1]].reminder.state == "skipped"
    wave.refresh()
    assert (wave.sent, wave.finished) == (0, 0)  # reminders are counted when planned


def test_ledger_records_delivered_again_by_the_stream_move_and_count_nothing_twice(ready: Any) -> None:
    # Given a batch with one email sent, one uncertain and one suppressed
    wave = make_wave()
    contacts = [make_contact(f"client{n}@cabinet.example") for n in range(3)]
    batch_id, ids = reserve(wave, contacts)
    Suppression(contacts[2].email_hash, reason="unsubscribe", source="link").save()
    spy_ses(lambda n, _i: Injected(lose_answer=True) if n == 2 else None)
    stream = LedgerStream()
    deliver(body(wave, batch_id, ids))
    records = stream.read()

    # When the stream hands the same records over three times (retries, bisected batches)
    for _ in range(3):
        assert stream.apply(records) == {"batchItemFailures": []}

    wave.refresh()
    assert (wave.sent, wave.uncertain, wave.send_skipped, wave.finished) == (1, 1, 1, 3)
    invitations = _invitations(ids)
    assert [invitations[key].status for key in ids] == ["sent", "uncertain", "skipped"]
