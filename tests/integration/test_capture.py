"""The capture function: survey pages of the score links (a GET or a HEAD logs the click and
nothing else), the Send button's POST (one response, written with the invitation's mark in one
transaction), and a friendly page for everything that goes wrong. Against moto, tables from
template.yaml; AWS calls counted where botocore makes them."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from closeloop import aws, clock
from closeloop.errors import InvalidInput, NotFound
from closeloop.models import Click, Invitation, Response
from closeloop.services import capture
from closeloop.services.capture import record_response
from closeloop.settings import get_settings
from closeloop.tokens import survey_token, unsubscribe_token
from closeloop_local.template import ResolvedTemplate
from tests.integration.capture_support import BROWSER, Answer, call, sent_invitation
from tests.integration.imports_support import as_function

NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)
CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"


@pytest.fixture
def capture_stack(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    """This process as the capture function, its clock frozen at NOW."""
    as_function(stack, monkeypatch, "CaptureFunction")
    clock.set_state(frozen_at=NOW)
    return stack


def items(table: str) -> list[dict[str, Any]]:
    """Every item of a table as DynamoDB holds it, in key order."""
    name = getattr(get_settings(), table)
    found = aws.client("dynamodb").scan(TableName=name, ConsistentRead=True)["Items"]
    return sorted(found, key=lambda item: json.dumps(item, sort_keys=True))


def clicks() -> list[Click]:
    return sorted(Click.scan(consistent_read=True), key=lambda click: click.click_key)


def response_of(invitation: Invitation) -> Response | None:
    try:
        return Response.get(invitation.invitation_id, consistent_read=True)
    except Response.DoesNotExist:
        return None


def text_of(answer: Answer) -> str:
    """The page as a reader sees it: tags dropped, blanks folded."""
    return " ".join(re.sub(r"<[^>]+>", " ", answer.body).split())


def checked_score(answer: Answer) -> list[str]:
    return re.findall(r'name="score" value="(\d+)" id="score-\d+" checked', answer.body)


def assert_page_headers(answer: Answer) -> None:
    assert answer.headers["content-type"] == "text/html; charset=utf-8"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-robots-tag"] == "noindex"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["content-security-policy"] == CSP


class CallCounter:
    """Every AWS call botocore makes on this thread (boto3's and PynamoDB's clients alike): the
    function's calls, not those of a local runtime another suite left running in this process."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[str] = []
        self.fail_transactions = 0
        original = BaseClient._make_api_call
        counter = self
        thread = threading.get_ident()

        def counted(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            if threading.get_ident() != thread:
                return original(client, operation, params)
            counter.calls.append(operation)
            if operation == "TransactWriteItems" and counter.fail_transactions > 0:
                counter.fail_transactions -= 1
                raise ClientError(
                    {
                        "Error": {"Code": "TransactionCanceledException", "Message": "Transaction cancelled"},
                        "CancellationReasons": [{"Code": "TransactionConflict"}, {"Code": "None"}][
                            : len(params["TransactItems"])
                        ],
                    },
                    operation,
                )
            return original(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", counted)

    def reset(self) -> None:
        self.calls.clear()


# ------------------------------------------------------------------ the page of a score link


@pytest.mark.parametrize(
    ("language", "score", "question", "send"),
    [
        ("fr", "7", "quelle est la probabilité que vous recommandiez Laboratoires Orvalis", "Envoyer"),
        ("en", "10", "how likely are you to recommend Laboratoires Orvalis", "Send"),
    ],
)
def test_a_score_link_shows_the_question_with_that_score_checked_in_the_contacts_language(
    capture_stack: ResolvedTemplate, language: str, score: str, question: str, send: str
) -> None:
    invitation = sent_invitation(language=language, first_name="Iris")
    token = survey_token(invitation.invitation_id)

    answer = call("GET", token, score, accept_language="de-DE")

    assert answer.status == 200
    assert_page_headers(answer)
    assert f'<html lang="{language}">' in answer.body
    assert question in text_of(answer)
    assert ("Bonjour Iris," if language == "fr" else "Hello Iris,") in text_of(answer)
    assert checked_score(answer) == [score]
    assert re.findall(r'name="score" value="(\d+)"', answer.body) == [str(n) for n in range(11)]
    assert f'<form method="post" action="/r/{token}"' in answer.body
    assert f'<button type="submit">{send}</button>' in answer.body
    assert 'name="comment"' in answer.body
    assert 'maxlength="5000"' in answer.body
    assert "<script" not in answer.body.lower()
    labels = (
        ("Pas du tout probable", "Très probable") if language == "fr" else ("Not at all likely", "Extremely likely")
    )
    assert all(label in answer.body for label in labels)


def test_a_get_logs_one_click_and_changes_nothing_else(capture_stack: ResolvedTemplate) -> None:
    # Given an invitation delivered two hours ago
    invitation = sent_invitation()
    invitations_before, responses_before = items("invitations_table"), items("responses_table")

    # When a person opens the link of score 7
    answer = call("GET", survey_token(invitation.invitation_id), "7", source_ip="198.51.100.23")

    # Then the page is served, one click is logged, and no other item moved
    assert answer.status == 200
    assert items("invitations_table") == invitations_before
    assert items("responses_table") == responses_before == []
    [click] = clicks()
    assert click.invitation_id == invitation.invitation_id
    assert click.click_key.startswith("2026-11-23T09:30:00.000000+0000#")
    assert (click.kind, click.score, click.method, click.ua_class) == ("survey", 7, "GET", "browser")
    assert click.user_agent == BROWSER
    assert click.source_hash is not None
    assert re.fullmatch(r"[0-9a-f]{32}", click.source_hash)
    assert "198.51.100.23" not in json.dumps(items("clicks_table"))
    assert click.since_send_s == 7200
    assert click.since_delivery_s == 7196
    assert not click.signals
    assert click.promote_shard == capture.promote_shard(invitation.invitation_id)
    assert click.promote_at == NOW + timedelta(minutes=30)
    assert click.expires_at == NOW + timedelta(days=90)


def test_the_same_source_address_always_gives_the_same_hash_and_another_address_another(
    capture_stack: ResolvedTemplate,
) -> None:
    invitation = sent_invitation()
    token = survey_token(invitation.invitation_id)

    for second, address in enumerate(("198.51.100.23", "198.51.100.23", "2001:db8::7")):
        clock.set_state(frozen_at=NOW + timedelta(seconds=second))
        call("GET", token, "8", source_ip=address)

    hashes = [click.source_hash for click in clicks()]
    assert hashes[0] == hashes[1] != hashes[2]


def test_a_head_answers_like_the_get_without_a_body_and_logs_a_head_click_only(
    capture_stack: ResolvedTemplate,
) -> None:
    invitation = sent_invitation()
    token = survey_token(invitation.invitation_id)
    invitations_before = items("invitations_table")
    get = call("GET", token, "9")

    head = call("HEAD", token, "9")

    assert head.status == get.status == 200
    assert head.body == ""
    assert {k: v for k, v in head.headers.items() if k != "x-correlation-id"} == {
        k: v for k, v in get.headers.items() if k != "x-correlation-id"
    }
    assert items("invitations_table") == invitations_before
    assert items("responses_table") == []
    [_, head_click] = sorted(clicks(), key=lambda click: click.method)
    assert (head_click.method, head_click.kind, head_click.score) == ("HEAD", "survey", 9)
    assert head_click.signals == {"head"}
    assert head_click.promote_at is None
    assert head_click.promote_shard is None


def test_the_trap_link_shows_an_empty_neutral_page_and_logs_a_trap_click(capture_stack: ResolvedTemplate) -> None:
    invitation = sent_invitation(language="en")

    answer = call("GET", survey_token(invitation.invitation_id), "trap")

    assert answer.status == 200
    assert_page_headers(answer)
    assert "<form" not in answer.body
    assert re.search(r'<main id="content" tabindex="-1">\s*</main>', answer.body)
    [click] = clicks()
    assert (click.kind, click.score, click.method) == ("trap", None, "GET")
    assert click.signals == {"trap"}
    assert click.promote_at is None
    assert items("responses_table") == []


def test_a_click_seconds_after_delivery_by_a_scanner_agent_carries_its_signals(capture_stack: ResolvedTemplate) -> None:
    invitation = sent_invitation(sent_at=NOW - timedelta(seconds=10))

    call("GET", survey_token(invitation.invitation_id), "4", user_agent="Mimecast URL Protect/1.0")

    [click] = clicks()
    assert click.ua_class == "scanner"
    assert click.signals == {"scanner_agent", "early"}
    assert click.since_delivery_s == 6


def test_a_click_with_no_delivery_known_yet_is_timed_from_the_send(capture_stack: ResolvedTemplate) -> None:
    invitation = sent_invitation(sent_at=NOW - timedelta(seconds=20), delivered=False)

    call("GET", survey_token(invitation.invitation_id), "6", user_agent=None)

    [click] = clicks()
    assert click.since_delivery_s is None
    assert click.since_send_s == 20
    assert click.user_agent is None
    assert click.signals == {"scanner_agent", "early"}


# ------------------------------------------------------------------ links that open nothing


def _tampered(token: str) -> str:
    middle = 20
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1 :]


def test_a_bad_tampered_or_other_kind_token_answers_one_friendly_404_and_records_nothing(
    capture_stack: ResolvedTemplate,
) -> None:
    invitation = sent_invitation()
    reference = call("GET", "x" * 40, "1")
    bad = {
        "garbage": "not-a-token",
        "tampered": _tampered(survey_token(invitation.invitation_id)),
        "unsubscribe token": unsubscribe_token(invitation.invitation_id),
        "unknown invitation": survey_token("a" * 26),
    }

    for case, token in bad.items():
        answers = [call("GET", token, "7"), call("HEAD", token, "7"), call("POST", token, form={"score": "7"})]
        assert [answer.status for answer in answers] == [404, 404, 404], case
        for answer in answers:
            assert_page_headers(answer)
        assert answers[0].body == answers[2].body == reference.body, case  # one page whatever is wrong
        assert answers[1].body == "", case

    assert "Ce lien ne fonctionne pas" in text_of(reference)
    assert items("clicks_table") == []
    assert items("responses_table") == []


def test_a_score_that_is_not_one_of_the_links_answers_404_and_records_nothing(capture_stack: ResolvedTemplate) -> None:
    invitation = sent_invitation()
    reference = call("GET", "x" * 40, "1")

    answers = {score: call("GET", survey_token(invitation.invitation_id), score) for score in ("11", "07", "-1", "+3")}

    assert {score: answer.status for score, answer in answers.items()} == dict.fromkeys(answers, 404)
    assert all(answer.body == reference.body for answer in answers.values())
    assert items("clicks_table") == []


def test_a_404_speaks_the_readers_language_first_and_the_other_after(capture_stack: ResolvedTemplate) -> None:
    english = text_of(call("GET", "x" * 40, "3", accept_language="en-GB,en;q=0.9,fr;q=0.5"))
    french = text_of(call("GET", "x" * 40, "3", accept_language="fr-CA"))
    unknown = text_of(call("GET", "x" * 40, "3", accept_language="de-DE"))

    assert english.index("This link does not work") < english.index("Ce lien ne fonctionne pas")
    assert french.index("Ce lien ne fonctionne pas") < french.index("This link does not work")
    assert unknown.index("Ce lien ne fonctionne pas") < unknown.index("This link does not work")


def test_a_closed_wave_answers_410_in_the_contacts_language_and_records_nothing(
    capture_stack: ResolvedTemplate,
) -> None:
    invitation = sent_invitation(language="en", closes_in=timedelta(days=1))
    token = survey_token(invitation.invitation_id)
    clock.set_state(frozen_at=NOW + timedelta(days=1))  # the closing instant itself is closed

    answer = call("GET", token, "8", accept_language="fr")
    posted = call("POST", token, form={"score": "8"})

    assert (answer.status, posted.status) == (410, 410)
    assert_page_headers(answer)
    assert "This survey has closed" in text_of(answer)
    assert "Cette enquête" not in text_of(answer)
    assert items("clicks_table") == []
    assert items("responses_table") == []


# ------------------------------------------------------------------ the Send button


def test_a_post_records_the_response_and_marks_the_invitation_in_one_write(capture_stack: ResolvedTemplate) -> None:
    # Given a French-speaking contact's invitation, delivered
    invitation = sent_invitation(language="fr", first_name="Élodie")
    token = survey_token(invitation.invitation_id)

    # When she sends 3 with a comment
    answer = call("POST", token, form={"score": "3", "comment": "  Les livraisons arrivent en retard.  "})

    # Then she reads the detractors' thank-you page, in French, with the promise of a call
    assert answer.status == 200
    assert_page_headers(answer)
    page = text_of(answer)
    assert "Merci pour votre franchise, Élodie" in page
    assert "vous appellera" in page
    assert "Votre note : 3 sur 10" in page
    # and the response is stored with the invitation's dimensions
    response = response_of(invitation)
    assert response is not None
    assert (response.score, response.first_score, response.category) == (3, 3, "detractor")
    assert (response.comment, response.has_comment) == ("Les livraisons arrivent en retard.", True)
    assert (response.confirmed, response.source, response.edits, response.version) == (True, "form", 0, 1)
    assert (response.contact_id, response.wave_id) == (invitation.contact_id, invitation.wave_id)
    assert (response.segment, response.language, response.month, response.weight) == (
        "pharmacy",
        "fr",
        invitation.month,
        1.5,
    )
    assert response.captured_month == "2026-11"
    assert response.created_at == response.confirmed_at == NOW
    # and the invitation is marked responded (its delivery time kept)
    marked = Invitation.get(invitation.invitation_id, consistent_read=True)
    assert marked.responded_at == NOW
    assert marked.delivered_at == invitation.delivered_at


def test_a_response_with_no_delivery_known_marks_the_invitation_delivered(capture_stack: ResolvedTemplate) -> None:
    invitation = sent_invitation(delivered=False)

    call("POST", survey_token(invitation.invitation_id), form={"score": "10"})

    marked = Invitation.get(invitation.invitation_id, consistent_read=True)
    assert marked.delivered_at == marked.responded_at == NOW


@pytest.mark.parametrize(
    ("score", "title"),
    [
        ("6", "Thank you for your candour, Emily"),
        ("8", "Thank you for your answer, Emily"),
        ("9", "Thank you for your trust, Emily!"),
    ],
)
def test_each_category_has_its_own_thank_you_page(capture_stack: ResolvedTemplate, score: str, title: str) -> None:
    invitation = sent_invitation(language="en", first_name="Emily")

    answer = call("POST", survey_token(invitation.invitation_id), form={"score": score})

    assert answer.status == 200
    assert title in text_of(answer)
    assert "will call you" in text_of(answer)


def test_a_later_post_changes_score_and_comment_and_moves_the_category(capture_stack: ResolvedTemplate) -> None:
    invitation = sent_invitation(language="en", first_name="Emily")
    token = survey_token(invitation.invitation_id)
    call("POST", token, form={"score": "3", "comment": "Late deliveries"})
    clock.set_state(frozen_at=NOW + timedelta(minutes=5))

    answer = call("POST", token, form={"score": "9", "comment": "Solved since, thank you"})

    assert answer.status == 200
    assert "Thank you for your trust, Emily!" in text_of(answer)
    assert "Your answer has been updated: 9 out of 10" in text_of(answer)
    response = response_of(invitation)
    assert response is not None
    assert (response.score, response.first_score, response.category) == (9, 3, "promoter")
    assert response.comment == "Solved since, thank you"
    assert (response.edits, response.version) == (1, 2)
    assert response.created_at == NOW
    assert response.updated_at == NOW + timedelta(minutes=5)
    assert Invitation.get(invitation.invitation_id).responded_at == NOW  # the first response's time


def test_a_later_post_without_a_comment_removes_it(capture_stack: ResolvedTemplate) -> None:
    invitation = sent_invitation()
    token = survey_token(invitation.invitation_id)
    call("POST", token, form={"score": "5", "comment": "Trop cher"})

    call("POST", token, form={"score": "5", "comment": "   "})

    response = response_of(invitation)
    assert response is not None
    assert (response.comment, response.has_comment, response.edits) == (None, False, 1)
    assert "comment" not in items("responses_table")[0]


def test_the_same_post_again_writes_nothing(capture_stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> None:
    invitation = sent_invitation()
    token = survey_token(invitation.invitation_id)
    first = call("POST", token, form={"score": "8", "comment": "Bien"})
    stored = items("responses_table"), items("invitations_table")
    counter = CallCounter(monkeypatch)
    clock.set_state(frozen_at=NOW + timedelta(seconds=3))

    again = call("POST", token, form={"score": "8", "comment": "Bien"})

    assert (first.status, again.status) == (200, 200)
    assert text_of(first) == text_of(again)
    assert (items("responses_table"), items("invitations_table")) == stored
    assert counter.calls[:1] == ["BatchGetItem"]
    assert "TransactWriteItems" not in counter.calls


def test_a_comment_keeps_its_lines_but_loses_control_and_reordering_characters(
    capture_stack: ResolvedTemplate,
) -> None:
    invitation = sent_invitation()

    call(
        "POST",
        survey_token(invitation.invitation_id),
        form={"score": "2", "comment": "Ligne 1\r\n\x07Ligne\u202e 2\x00\t!"},
    )

    response = response_of(invitation)
    assert response is not None
    assert response.comment == "Ligne 1\nLigne 2\t!"


@pytest.mark.parametrize(
    ("form", "problem"),
    [
        pytest.param({"comment": "Sans note"}, "Choisissez une note de 0 à 10", id="no-score"),
        pytest.param([("score", "3"), ("score", "9"), ("comment", "Deux notes")], "Choisissez une note", id="two"),
        pytest.param({"score": "4", "comment": "é" * 5001}, "dépasse 5 000 caractères", id="comment-5001"),
    ],
)
def test_a_post_without_a_valid_score_or_with_an_overlong_comment_answers_400_and_keeps_what_was_typed(
    capture_stack: ResolvedTemplate, form: Any, problem: str
) -> None:
    invitation = sent_invitation()
    typed = dict(form).get("comment", "")

    answer = call("POST", survey_token(invitation.invitation_id), form=form)

    assert answer.status == 400
    assert_page_headers(answer)
    assert problem in text_of(answer)
    assert 'role="alert"' in answer.body
    assert f">{typed}</textarea>" in answer.body
    assert items("responses_table") == []
    assert Invitation.get(invitation.invitation_id).responded_at is None


def test_a_comment_of_exactly_the_limit_is_kept_whole(capture_stack: ResolvedTemplate) -> None:
    invitation = sent_invitation()

    answer = call("POST", survey_token(invitation.invitation_id), form={"score": "4", "comment": "é" * 5000})

    assert answer.status == 200
    response = response_of(invitation)
    assert response is not None
    assert response.comment == "é" * 5000


def test_a_locked_response_answers_409_with_the_team_page_and_keeps_the_answer(
    capture_stack: ResolvedTemplate,
) -> None:
    # Given a response the team has started to handle (the first call attempt locks it)
    invitation = sent_invitation(language="en", first_name="Emily")
    token = survey_token(invitation.invitation_id)
    call("POST", token, form={"score": "2", "comment": "Bad"})
    response = response_of(invitation)
    assert response is not None
    response.update(actions=[Response.locked_at.set(NOW)])
    stored = items("responses_table")

    # When the customer sends another answer, or opens a score link again
    posted = call("POST", token, form={"score": "10", "comment": "Changed my mind"})
    opened = call("GET", token, "10")

    # Then the page says the answer is with the team, and nothing changed
    assert posted.status == 409
    assert opened.status == 200
    for answer in (posted, opened):
        assert_page_headers(answer)
        assert "Your answer is with our team" in text_of(answer)
        assert "(2 out of 10)" in text_of(answer)
        assert "<form" not in answer.body
    assert items("responses_table") == stored


def test_a_score_link_reopened_after_an_answer_shows_the_clicked_score_and_the_comment_to_change_them(
    capture_stack: ResolvedTemplate,
) -> None:
    invitation = sent_invitation()
    token = survey_token(invitation.invitation_id)
    call("POST", token, form={"score": "3", "comment": "Délais trop longs"})

    answer = call("GET", token, "4")

    assert checked_score(answer) == ["4"]
    assert "Vous avez déjà répondu 3 sur 10." in text_of(answer)
    assert ">Délais trop longs</textarea>" in answer.body
    [click] = clicks()
    assert click.promote_at is None  # an answer exists: nothing to promote


def test_a_response_post_emits_the_responses_created_metric(
    capture_stack: ResolvedTemplate, capsys: pytest.CaptureFixture[str]
) -> None:
    invitation = sent_invitation()
    capsys.readouterr()

    call("POST", survey_token(invitation.invitation_id), form={"score": "9"})

    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    names = {m["Name"] for doc in emitted for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert "responses_created" in names


# ------------------------------------------------------------------ AWS calls, conflicts


def test_a_get_makes_two_aws_calls_and_a_post_two(
    capture_stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    invitation = sent_invitation()
    token = survey_token(invitation.invitation_id)
    call("GET", token, "1")  # the container's first request reads its secrets (cached 5 minutes)
    counter = CallCounter(monkeypatch)

    call("GET", token, "2")
    get_calls = list(counter.calls)
    counter.reset()
    call("POST", token, form={"score": "2"})
    post_calls = list(counter.calls)

    assert get_calls == ["BatchGetItem", "PutItem"]
    assert post_calls == ["BatchGetItem", "TransactWriteItems"]


def test_a_transaction_conflict_is_retried_once_within_three_aws_calls(
    capture_stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    invitation = sent_invitation()
    token = survey_token(invitation.invitation_id)
    call("GET", token, "1")
    counter = CallCounter(monkeypatch)
    monkeypatch.setattr(capture.time, "sleep", lambda _seconds: None)
    counter.fail_transactions = 1

    answer = call("POST", token, form={"score": "6", "comment": "Moyen"})

    assert answer.status == 200
    assert counter.calls == ["BatchGetItem", "TransactWriteItems", "TransactWriteItems"]
    response = response_of(invitation)
    assert response is not None
    assert (response.score, response.comment, response.version) == (6, "Moyen", 1)
    assert Invitation.get(invitation.invitation_id).responded_at == NOW


def test_a_transaction_conflict_twice_answers_503_and_writes_nothing(
    capture_stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    invitation = sent_invitation(language="en")
    token = survey_token(invitation.invitation_id)
    call("GET", token, "1")
    before = items("invitations_table")
    counter = CallCounter(monkeypatch)
    monkeypatch.setattr(capture.time, "sleep", lambda _seconds: None)
    counter.fail_transactions = 2

    answer = call("POST", token, form={"score": "6", "comment": "Moyen"})

    assert answer.status == 503
    assert answer.headers["retry-after"] == "5"
    assert_page_headers(answer)
    assert "Your answer could not be saved just now" in text_of(answer)
    assert counter.calls == ["BatchGetItem", "TransactWriteItems", "TransactWriteItems"]
    assert items("responses_table") == []
    assert items("invitations_table") == before


def test_a_post_racing_an_identical_one_finds_it_written_and_writes_nothing_more(
    capture_stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a POST that read the invitation before another identical POST wrote the response
    invitation = sent_invitation()
    token = survey_token(invitation.invitation_id)
    stale = capture._read(invitation.invitation_id, consistent=True)
    call("POST", token, form={"score": "9", "comment": "Parfait"})
    stored = items("responses_table")
    monkeypatch.setattr(capture, "_read", lambda _id, *, consistent: stale)
    counter = CallCounter(monkeypatch)

    # When it writes: its condition fails, and the item the refusal returns is the same answer
    answer = call("POST", token, form={"score": "9", "comment": "Parfait"})

    # Then it thanks the customer and writes nothing more: one response, version 1
    assert answer.status == 200
    assert "Merci pour votre confiance" in text_of(answer)
    assert counter.calls == ["TransactWriteItems"]
    assert items("responses_table") == stored


# ------------------------------------------------------------------ record_response, the interface


def test_an_unconfirmed_response_is_written_only_when_there_is_none(capture_stack: ResolvedTemplate) -> None:
    invitation = sent_invitation()

    promoted = record_response(invitation.invitation_id, 7, None, source="click", confirmed=False)
    again = record_response(invitation.invitation_id, 2, None, source="click", confirmed=False)

    assert (promoted.created, promoted.confirmed, promoted.category) == (True, False, "passive")
    assert (again.created, again.changed, again.score) == (False, False, 7)
    response = response_of(invitation)
    assert response is not None
    assert (response.score, response.confirmed, response.source, response.confirmed_at) == (7, False, "click", None)
    assert Invitation.get(invitation.invitation_id).responded_at == NOW


def test_a_person_confirming_a_promoted_click_replaces_it_with_their_answer(capture_stack: ResolvedTemplate) -> None:
    invitation = sent_invitation()
    record_response(invitation.invitation_id, 7, None, source="click", confirmed=False)
    clock.set_state(frozen_at=NOW + timedelta(hours=1))

    result = record_response(invitation.invitation_id, 4, "En fait, non")

    assert (result.created, result.changed, result.confirmed, result.category) == (False, True, True, "detractor")
    response = response_of(invitation)
    assert response is not None
    assert (response.score, response.first_score, response.confirmed, response.source) == (4, 4, True, "form")
    assert response.confirmed_at == NOW + timedelta(hours=1)
    assert response.created_at == NOW
    assert response.edits == 0


def test_a_confirmed_response_is_never_replaced_by_a_promotion(capture_stack: ResolvedTemplate) -> None:
    invitation = sent_invitation()
    record_response(invitation.invitation_id, 10, "Super")
    stored = items("responses_table")

    result = record_response(invitation.invitation_id, 3, None, source="click", confirmed=False)

    assert (result.created, result.changed, result.score, result.confirmed) == (False, False, 10, True)
    assert items("responses_table") == stored


def test_record_response_refuses_a_score_outside_0_to_10_and_an_unknown_invitation(
    capture_stack: ResolvedTemplate,
) -> None:
    invitation = sent_invitation()

    with pytest.raises(InvalidInput):
        record_response(invitation.invitation_id, 11, None)
    with pytest.raises(InvalidInput):
        record_response(invitation.invitation_id, 5, "x" * 5001)
    with pytest.raises(NotFound):
        record_response("a" * 26, 5, None)
    assert items("responses_table") == []


def test_record_response_of_a_locked_response_says_so_and_writes_nothing(capture_stack: ResolvedTemplate) -> None:
    invitation = sent_invitation()
    record_response(invitation.invitation_id, 1, None)
    Response.get(invitation.invitation_id).update(actions=[Response.locked_at.set(NOW)])

    result = record_response(invitation.invitation_id, 9, None)

    assert (result.locked, result.changed, result.score) == (True, False, 1)
