"""Case and staff emails: from a change of a case (case_flow) to the mail queue, and from the queue
to SES through the mailer, each email at most once whatever SQS, the stream or a crash repeats.

Each test drives the real handlers against moto (tables, queues and SES identity from
template.yaml) and looks at what a person would see: the emails SES accepted, with their subject,
recipient, Reply-To and reference, and the ledger items in Messages.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from closeloop import aws, clock
from closeloop.models import Case, Message, ReplyToken, Suppression
from closeloop.rules.case_events import MailJob, stored_time
from closeloop.services import mailer
from closeloop.settings import get_settings
from closeloop.tokens import reply_token_hash
from closeloop_local.template import ResolvedTemplate
from tests.integration.case_mail_support import (
    CasesStream,
    add_contact,
    add_staff,
    deliver,
    deliver_queued,
    emails_of,
    mailer_handler,
    open_case,
    queued,
    sqs_event,
)
from tests.integration.dispatch import Injected, spy_ses, throttled
from tests.integration.responses_support import bus_subscriber
from tests.integration.streams import TableStream
from tests.support import LambdaContext, load_event, load_handler

ses_events_handler = load_handler("ses_events")
message_flow_handler = load_handler("message_flow")


@pytest.fixture
def ready(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    """This process configured as the mailer and case_flow functions."""
    for name in ("MailerFunction", "CaseFlowFunction"):
        for key, value in stack.functions[name].environment.items():
            monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    mailer.forget()
    return stack


def _ledger(case_id: str) -> dict[str, Message]:
    return {str(item.message_key): item for item in Message.query(case_id, consistent_read=True)}


def _team() -> dict[str, Any]:
    return {
        "claire": add_staff("claire.dubois@orvalis.example", name="Claire Dubois", groups={"caller"}),
        "james": add_staff("james.hill@orvalis.example", name="James Hill", groups={"caller"}, language="en"),
        "marc": add_staff("marc.petit@orvalis.example", name="Marc Petit", groups={"manager", "caller"}),
        "sarah": add_staff("sarah.jones@orvalis.example", name="Sarah Jones", groups={"manager"}, language="en"),
        "gone": add_staff("old.manager@orvalis.example", name="Old Manager", groups={"manager"}, active=False),
    }


def test_an_opened_case_notifies_its_assignee_once_in_their_language(ready: Any) -> None:
    # Given a case just opened for a French contact, assigned to an English-speaking caller
    team = _team()
    stream = CasesStream(from_start=False)
    case = open_case(add_contact("anne@pharmacie.example"), team["james"])

    # When case_flow reads the stream and the mailer takes the queue, twice over
    with bus_subscriber() as received:
        assert stream.apply() == {"batchItemFailures": []}
        [opened] = received()
    jobs = queued()
    assert [job["kind"] for job in jobs] == ["notify_assigned"]
    bodies = [json.dumps(job) for job in jobs]
    assert mailer_handler(sqs_event(*bodies), LambdaContext()) == {"batchItemFailures": []}
    assert mailer_handler(sqs_event(*bodies), LambdaContext()) == {"batchItemFailures": []}

    # Then James got one email, in English, with the link to the case and no customer detail
    emails = emails_of(case.case_id)
    assert len(emails) == 1
    assert emails[0]["To"] == "james.hill@orvalis.example"
    assert emails[0]["Subject"] == "A customer to call back: detractor, score 3/10"
    text = emails[0].get_body(("plain",)).get_content()
    assert f"/staff/cases/{case.case_id}" in text
    assert "anne@pharmacie.example" not in text
    assert "Lefebvre" not in text
    # and the ledger holds it sent under the assignment's time
    key = f"{stored_time(case.assigned_at)}#notify_assigned"
    assert emails[0]["X-Closeloop-Ref"] == f"msg:{case.case_id}:{key}"
    item = _ledger(case.case_id)[key]
    assert (item.state, item.recipient, item.staff_id, item.direction) == (
        "sent",
        "staff",
        team["james"].staff_id,
        "out",
    )
    assert item.ses_message_id
    # and CaseOpened is on the bus, with ids and the category only
    assert opened["detail-type"] == "CaseOpened"
    detail = opened["detail"]
    assert (detail["case_id"], detail["assignee_id"], detail["category"]) == (
        case.case_id,
        team["james"].staff_id,
        "detractor",
    )
    assert "score" not in detail


def test_two_failed_attempts_send_the_fallback_once_with_a_reply_address_of_the_case(ready: Any) -> None:
    team = _team()
    contact = add_contact("anne@pharmacie.example", language="fr")
    case = open_case(contact, team["claire"], category="passive", score=7)
    stream = CasesStream(from_start=False)
    stream.apply()
    queued()

    # When two attempts fail (as the cases API writes them)
    for n in (1, 2):
        at = clock.now() + timedelta(hours=n)
        Case._get_connection().update_item(
            case.case_id,
            actions=[
                Case.attempt_count.add(1),
                Case.failed_attempt_count.add(1),
                Case.last_attempt_at.set(at),
                Case.version.add(1),
            ],
        )
    assert stream.apply() == {"batchItemFailures": []}
    # (a second fallback job, as another trigger would make, and the first one again)
    other = MailJob("fallback", case.case_id, stored_time(clock.now() + timedelta(hours=5)), "customer")
    answer = deliver_queued()
    assert [job["kind"] for job in answer["jobs"]] == ["fallback"]
    assert deliver(other, MailJob(**answer["jobs"][0])) == {"batchItemFailures": []}

    # Then Anne got one email, in French, for a passive, signed by Claire, replies to the case
    emails = emails_of(case.case_id)
    assert len(emails) == 1
    message = emails[0]
    assert message["To"] == "anne@pharmacie.example"
    assert message["Subject"] == "Suite à votre avis : pouvons-nous en parler ?"
    assert "Claire Dubois" in message.get_body(("plain",)).get_content()
    token = message["Reply-To"].split("+", 1)[1].split("@", 1)[0]
    stored = ReplyToken.get(reply_token_hash(token))
    assert (stored.kind, stored.object_id, stored.step) == ("case", case.case_id, "fallback")
    # and the case shows the fallback claimed; the ledger keeps the text as sent and the token's hash
    case.refresh(consistent_read=True)
    assert case.fallback_at is not None
    sent = [item for item in _ledger(case.case_id).values() if item.kind == "fallback" and item.state == "sent"]
    assert len(sent) == 1
    assert sent[0].reply_token_hash == reply_token_hash(token)
    assert sent[0].recipient == "customer"
    assert sent[0].body is not None
    assert "mériter un 9 ou un 10" in sent[0].body
    # and message_flow, reading the ledger's stream, publishes FallbackSent once
    with bus_subscriber() as received:
        records = TableStream(get_settings().messages_table, from_start=True).read()
        assert message_flow_handler({"Records": records}, LambdaContext()) == {"batchItemFailures": []}
        [event] = [found for found in received() if found["detail-type"] == "FallbackSent"]
    assert (event["detail"]["case_id"], event["detail"]["category"]) == (case.case_id, "passive")


def test_a_contact_without_a_phone_gets_the_fallback_at_opening(ready: Any) -> None:
    team = _team()
    stream = CasesStream(from_start=False)
    case = open_case(
        add_contact("paul@cabinet.example", language="en", first_name="Paul"), team["claire"], has_phone=False
    )
    stream.apply()
    deliver_queued()
    subjects = sorted(str(message["Subject"]) for message in emails_of(case.case_id))
    assert subjects == ["About your feedback: we would like to talk", "Un client à rappeler : détracteur, note 3/10"]
    # nobody called: the email does not say we tried, it says why we could not
    [fallback] = [message for message in emails_of(case.case_id) if message["To"] == "paul@cabinet.example"]
    text = fallback.get_body(("plain",)).get_content()
    assert "we have no phone number to reach you" in text
    assert "We tried to call you" not in text


def test_a_suppressed_address_gets_no_fallback_and_the_ledger_says_why(ready: Any) -> None:
    team = _team()
    contact = add_contact("anne@pharmacie.example")
    Suppression(contact.email_hash, reason="unsubscribe", source="link").save()
    case = open_case(contact, team["claire"])
    job = MailJob("fallback", case.case_id, stored_time(clock.now()), "customer")
    assert deliver(job) == {"batchItemFailures": []}
    assert emails_of(case.case_id) == []
    skipped = _ledger(case.case_id)[job.message_key()]
    assert (skipped.state, skipped.skip_reason) == ("skipped", "suppressed")
    case.refresh(consistent_read=True)
    assert case.fallback_at is None


def test_a_claim_left_sending_is_uncertain_after_the_timeout_and_never_sent_again(ready: Any) -> None:
    team = _team()
    case = open_case(add_contact("anne@pharmacie.example"), team["claire"])
    job = MailJob("notify_assigned", case.case_id, stored_time(case.assigned_at), team["claire"].staff_id)
    key = job.message_key()
    Message(
        case.case_id,
        key,
        direction="out",
        kind="notify_assigned",
        at=case.assigned_at,
        message_id="x",
        state="sending",
        claimed_at=clock.now(),
    ).save()

    # a delivery while the claim is fresh: someone may be sending it right now, the message comes back
    answer = deliver(job)
    assert answer["batchItemFailures"] == [{"itemIdentifier": "message-0"}]
    # after the timeout: uncertain, and still nothing sent
    clock.set_state(offset_seconds=120)
    assert deliver(job) == {"batchItemFailures": []}
    assert _ledger(case.case_id)[key].state == "uncertain"
    assert deliver(job) == {"batchItemFailures": []}
    assert emails_of(case.case_id) == []


def test_a_fallback_claim_left_sending_is_uncertain_after_the_timeout_and_never_sent(ready: Any) -> None:
    team = _team()
    case = open_case(add_contact("anne@pharmacie.example"), team["claire"])
    job = MailJob("fallback", case.case_id, stored_time(clock.now()), "customer")
    key = job.message_key()
    case.update(actions=[Case.fallback_at.set(clock.now())])  # the claim's guard, as its transaction left it
    Message(
        case.case_id,
        key,
        direction="out",
        kind="fallback",
        at=clock.now(),
        message_id="x",
        state="sending",
        claimed_at=clock.now(),
    ).save()

    # a delivery while the claim is fresh comes back later; after the timeout the claim is uncertain
    assert deliver(job)["batchItemFailures"] == [{"itemIdentifier": "message-0"}]
    clock.set_state(offset_seconds=120)
    assert deliver(job) == {"batchItemFailures": []}
    assert _ledger(case.case_id)[key].state == "uncertain"
    assert emails_of(case.case_id) == []


def test_a_throttled_email_is_deferred_then_sent_once_by_the_next_delivery(ready: Any) -> None:
    team = _team()
    case = open_case(add_contact("anne@pharmacie.example"), team["claire"])
    job = MailJob("notify_assigned", case.case_id, stored_time(case.assigned_at), team["claire"].staff_id)
    real = aws.client("sesv2")

    class Throttled:
        def send_email(self, **_request: Any) -> Any:
            raise throttled()

    aws.use_client("sesv2", Throttled())
    assert deliver(job)["batchItemFailures"] == [{"itemIdentifier": "message-0"}]
    assert _ledger(case.case_id)[job.message_key()].state == "deferred"
    aws.use_client("sesv2", real)
    assert deliver(job) == {"batchItemFailures": []}
    assert deliver(job) == {"batchItemFailures": []}
    assert len(emails_of(case.case_id)) == 1
    assert _ledger(case.case_id)[job.message_key()].state == "sent"


def test_escalations_go_to_every_active_manager_once_per_step(ready: Any) -> None:
    team = _team()
    case = open_case(add_contact("anne@pharmacie.example"), team["claire"])
    step_at = stored_time(case.due_at + timedelta(days=1))
    job = MailJob("escalate", case.case_id, step_at, "managers", "escalate#2")
    assert deliver(job, job) == {"batchItemFailures": []}
    emails = emails_of(case.case_id)
    assert sorted(str(message["To"]) for message in emails) == [
        "marc.petit@orvalis.example",
        "sarah.jones@orvalis.example",
    ]
    english = next(message for message in emails if message["To"] == "sarah.jones@orvalis.example")
    assert english["Subject"] == "Case overdue by 1 day: detractor, score 3/10"
    assert "Assigned to: Claire Dubois" in english.get_body(("plain",)).get_content()
    keys = sorted(_ledger(case.case_id))
    assert keys == sorted(f"{step_at}#escalate-2-{team[name].staff_id}" for name in ("marc", "sarah"))


def test_a_reminder_whose_case_was_reached_meanwhile_is_dropped(ready: Any) -> None:
    team = _team()
    case = open_case(add_contact("anne@pharmacie.example"), team["claire"])
    job = MailJob("remind", case.case_id, stored_time(case.next_timer_at), team["claire"].staff_id, "remind")
    Case._get_connection().update_item(
        case.case_id, actions=[Case.first_exchange_at.set(clock.now()), Case.first_exchange_kind.set("call")]
    )
    assert deliver(job) == {"batchItemFailures": []}
    assert emails_of(case.case_id) == []
    skipped = _ledger(case.case_id)[job.message_key()]
    assert (skipped.state, skipped.skip_reason) == ("skipped", "exchanged")


def test_a_message_that_is_not_a_job_is_reported_failed(ready: Any) -> None:
    answer = mailer_handler(sqs_event('{"kind": "parcel"}'), LambdaContext())
    assert answer == {"batchItemFailures": [{"itemIdentifier": "message-0"}]}


def test_an_email_whose_ses_answer_was_lost_is_uncertain_until_its_ses_event_settles_it(ready: Any) -> None:
    team = _team()
    case = open_case(add_contact("anne@pharmacie.example"), team["claire"])
    job = MailJob("notify_assigned", case.case_id, stored_time(case.assigned_at), team["claire"].staff_id)
    spy_ses(lambda _n, _id: Injected(lose_answer=True))

    # SES sent it, but its answer never came: uncertain, and a redelivery sends nothing more
    assert deliver(job, job) == {"batchItemFailures": []}
    [sent] = emails_of(case.case_id)
    assert _ledger(case.case_id)[job.message_key()].state == "uncertain"

    # SES's delivery event names the email by its reference: the ledger says sent
    event = load_event("ses/delivery.json")
    event["detail"]["mail"]["headers"] = [{"name": name, "value": str(value)} for name, value in sent.items()]
    event["detail"]["mail"]["messageId"] = "0102019a-case-mail-000001"
    assert ses_events_handler(json.loads(json.dumps(event)), LambdaContext()) is not None
    settled = _ledger(case.case_id)[job.message_key()]
    assert (settled.state, settled.ses_message_id) == ("sent", "0102019a-case-mail-000001")
    assert len(emails_of(case.case_id)) == 1


def test_a_customer_reply_notifies_the_assignee_of_its_case_once(
    ready: Any, stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in stack.functions["MessageFlowFunction"].environment.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    team = _team()
    case = open_case(add_contact("anne@pharmacie.example", language="en"), team["claire"])
    on_case = load_event("dynamodb/messages-insert.json")["Records"][0]
    on_case["dynamodb"]["NewImage"]["thread_id"] = {"S": case.case_id}
    no_case = load_event("dynamodb/messages-insert.json")["Records"][0]
    no_case["eventID"] = "another-record"

    # When message_flow reads both replies (twice: a retried batch), then the mailer the queue
    for _ in range(2):
        assert message_flow_handler({"Records": [on_case, no_case]}, LambdaContext()) == {"batchItemFailures": []}
    assert deliver_queued()["batchItemFailures"] == []

    # Then Claire (the assignee) got one notice in French with the case's link
    [notice] = emails_of(case.case_id)
    assert notice["To"] == "claire.dubois@orvalis.example"
    assert notice["Subject"] == "Un client a répondu à notre email"
    assert f"/staff/cases/{case.case_id}" in notice.get_body(("plain",)).get_content()
    assert notice["X-Closeloop-Ref"] == f"msg:{case.case_id}:2026-11-22T09:00:00.000000+0000#notify_reply"
    # and the reply with no case sent nothing: it waits in the replies needing a person
    thread = no_case["dynamodb"]["NewImage"]["thread_id"]["S"]
    assert emails_of(thread) == []


def test_a_complaint_about_the_fallback_email_suppresses_the_customers_address(ready: Any) -> None:
    # Given a fallback email sent to Anne (a contact with no phone: sent at opening)
    team = _team()
    contact = add_contact("anne@pharmacie.example")
    stream = CasesStream(from_start=False)
    case = open_case(contact, team["claire"], has_phone=False)
    stream.apply()
    deliver_queued()
    [fallback] = [message for message in emails_of(case.case_id) if message["To"] == "anne@pharmacie.example"]

    # When she marks it as spam (SES's complaint event names the email by its reference)
    event = load_event("ses/complaint.json")
    event["detail"]["mail"]["headers"] = [{"name": name, "value": str(value)} for name, value in fallback.items()]
    event["detail"]["complaint"]["complainedRecipients"] = [{"emailAddress": "anne@pharmacie.example"}]
    ses_events_handler(json.loads(json.dumps(event)), LambdaContext())

    # Then her address is suppressed: no survey and no programme email reaches her again
    suppression = Suppression.get(contact.email_hash, consistent_read=True)
    assert (suppression.reason, suppression.source) == ("complaint", "ses")
