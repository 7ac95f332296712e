"""The waves API: what a manager plans, the schedules it creates, what it refuses and why, preview,
test-send to staff only, and cancel."""

from __future__ import annotations

import email
import json
from datetime import UTC, datetime, timedelta
from email import policy
from typing import Any

import pytest
from moto.backends import get_backend

from closeloop import clock
from closeloop.models import Invitation, Wave
from closeloop.services.directory import add_staff
from closeloop_local.template import ResolvedTemplate
from tests.integration.planning_support import (
    add_contacts,
    at,
    invitations_of,
    scheduled,
    start,
    use_wave_functions_environment,
)
from tests.support import LambdaContext, load_event, load_handler

handler = load_handler("waves_api")
NOW = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
CLAIRE = "claire.martin@demo.closeloop.example"  # manager
HUGO = "hugo.bernard@demo.closeloop.example"  # caller


@pytest.fixture
def api(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    use_wave_functions_environment(stack, monkeypatch)
    add_staff(email=CLAIRE, name="Claire Martin", groups={"caller", "manager"})
    add_staff(email=HUGO, name="Hugo Bernard", groups={"caller"}, language="fr")
    add_contacts(3, segment="pharmacy")
    add_contacts(2, segment="doctor", language="en", prefix="d")
    at(NOW)
    return stack


def call(
    method: str,
    path: str,
    body: Any = None,
    *,
    who: str = CLAIRE,
    groups: str = "[caller manager]",
    headers: dict[str, str] | None = None,
) -> Any:
    """The function's answer to one request, as API Gateway hands it over: (status, JSON body)."""
    event = load_event("http/me.json")
    route = "/" + "/".join("{wave_id}" if part.startswith("01") else part for part in path.strip("/").split("/"))
    parts = path.strip("/").split("/")
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {route}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    if len(parts) > 1:
        event["pathParameters"] = {"wave_id": parts[1]}
    event["headers"].update({name.lower(): value for name, value in (headers or {}).items()})
    if body is not None:
        event["body"] = json.dumps(body)
        event["headers"]["content-type"] = "application/json"
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    claims.update({"email": who, "cognito:groups": groups})
    answer = handler(event, LambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


def create(**changes: Any) -> tuple[int, dict[str, Any]]:
    body: dict[str, Any] = {"name": "Printemps 2027", "target": {"segments": ["pharmacy"]}}
    body.update(changes)
    status, answer = call("POST", "/waves", body)
    return status, answer


# ------------------------------------------------------------------ create


def test_a_manager_creates_a_wave_with_the_default_plan_and_its_three_schedules(api: ResolvedTemplate) -> None:
    status, wave = create()

    assert status == 201
    assert wave["status"] == "planned"
    assert (wave["starts_at"], wave["reminder_at"], wave["closes_at"]) == (
        "2027-03-01T08:00:00Z",
        "2027-03-08T08:00:00Z",
        "2027-03-22T08:00:00Z",
    )
    assert wave["month"] == "2027-03"
    assert wave["target"] == {"segments": ["pharmacy"], "languages": [], "everyone": False}
    assert wave["subjects"]["fr"].endswith(": votre avis en une question")
    assert wave["subjects"]["en"].endswith(": your opinion in one question")
    assert wave["intros"]["fr"].startswith("Votre avis")
    assert wave["intros"]["en"].startswith("Your opinion")
    schedules = {s["Name"]: s for s in scheduled(api)}
    function_arn = api.functions["WaveScheduleFunction"].arn
    expected = {
        "start": "at(2027-03-01T09:01:00)",  # now (Paris, UTC+1) is a minute ahead: Scheduler's precision
        "reminder": "at(2027-03-08T09:00:00)",
        "close": "at(2027-03-22T09:00:00)",
    }
    for step, expression in expected.items():
        schedule = schedules[f"closeloop-test-wave-{wave['wave_id']}-{step}"]
        assert schedule["ScheduleExpression"] == expression
        assert schedule["ScheduleExpressionTimezone"] == "Europe/Paris"
        assert (schedule["ActionAfterCompletion"], schedule["FlexibleTimeWindow"]) == ("DELETE", {"Mode": "OFF"})
        assert schedule["Target"]["Arn"] == function_arn
        assert schedule["Target"]["RoleArn"].endswith(":role/closeloop-local-SchedulerRole")
        assert json.loads(schedule["Target"]["Input"]) == {"wave_id": wave["wave_id"], "step": step}


def test_a_wave_keeps_the_times_and_texts_a_manager_gives(api: ResolvedTemplate) -> None:
    status, wave = create(
        starts_at="2027-04-01T10:00:00+02:00",
        reminder_delay="P3D",
        closes_at="2027-04-15T18:00:00+02:00",
        subjects={"fr": "Une question pour vous"},
        intros={"en": "Thank you for your time."},
        target={"segments": ["doctor", "pharmacy"], "languages": ["en"]},
    )

    assert status == 201
    assert (wave["starts_at"], wave["reminder_at"], wave["closes_at"]) == (
        "2027-04-01T08:00:00Z",
        "2027-04-04T08:00:00Z",
        "2027-04-15T16:00:00Z",
    )
    assert wave["subjects"]["fr"] == "Une question pour vous"
    assert wave["subjects"]["en"].endswith("your opinion in one question")
    assert wave["intros"]["en"] == "Thank you for your time."
    assert wave["target"] == {"segments": ["doctor", "pharmacy"], "languages": ["en"], "everyone": False}


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"target": {"segments": ["pharmacy", "veterinary"]}}, "unknown segment: veterinary"),
        ({"starts_at": "2027-03-01T08:50:00+02:00"}, "the start is in the past"),
        ({"starts_at": "2027-03-10T09:00:00Z", "closes_at": "2027-03-09T09:00:00Z"}, "closing must come after"),
        ({"reminder_delay": "P30D"}, "the reminder would come after the closing"),
        ({"target": {}}, "choose the target"),
        ({"target": {"everyone": True, "languages": ["fr"]}}, "either everyone"),
        ({"target": {"languages": ["de"]}}, "'de' is not one of: fr, en"),
        ({"subjects": {"fr": "ligne\nBcc: tout@le-monde.example"}}, "fit on one line"),
        ({"name": " "}, "needs a name"),
    ],
)
def test_a_wave_that_cannot_work_is_refused_with_the_reason_and_nothing_is_scheduled(
    api: ResolvedTemplate, changes: dict[str, Any], reason: str
) -> None:
    status, answer = create(**changes)

    assert status == 400
    assert reason in answer["message"]
    assert list(scheduled(api)) == []
    assert Wave.count() == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"starts_at": "2027-04-01T10:00:00"},  # no offset
        {"starts_at": "next monday"},
        {"reminder_delay": "a week"},
        {"colour": "blue"},
    ],
)
def test_a_body_that_is_not_a_wave_is_a_400_with_details(api: ResolvedTemplate, changes: dict[str, Any]) -> None:
    status, answer = create(**changes)

    assert status == 400
    assert answer["error"] == "invalid_input"
    assert answer["details"]


def test_a_caller_reads_waves_but_cannot_create_or_cancel_one(api: ResolvedTemplate) -> None:
    _, wave = create()

    refused = call("POST", "/waves", {"name": "x", "target": {"everyone": True}}, who=HUGO, groups="[caller]")
    cancel = call("POST", f"/waves/{wave['wave_id']}/cancel", who=HUGO, groups="[caller]")
    listed = call("GET", "/waves", who=HUGO, groups="[caller]")
    shown = call("GET", f"/waves/{wave['wave_id']}", who=HUGO, groups="[caller]")

    assert refused[0] == cancel[0] == 403
    assert listed[0] == shown[0] == 200
    assert [w["wave_id"] for w in listed[1]["waves"]] == [wave["wave_id"]]


# ------------------------------------------------------------------ show, edit


def test_a_wave_shows_its_counts_once_planned(api: ResolvedTemplate) -> None:
    _, wave = create(target={"everyone": True})
    start(wave["wave_id"])

    status, shown = call("GET", f"/waves/{wave['wave_id']}")

    assert status == 200
    assert shown["status"] == "sending"
    assert shown["counts"]["targeted"] == shown["counts"]["reserved"] == 5
    assert shown["counts"]["skipped"] == {"suppressed": 0, "pressure_gap": 0, "pressure_max": 0}
    assert (shown["counts"]["sent"], shown["counts"]["delivered"], shown["counts"]["responded"]) == (0, 0, 0)
    assert call("GET", "/waves/01J0000000000000000000000X")[0] == 404


def test_a_planned_wave_is_edited_with_its_version_and_a_stale_edit_is_a_conflict(api: ResolvedTemplate) -> None:
    _, wave = create()
    path = f"/waves/{wave['wave_id']}"

    status, edited = call("PATCH", path, {"version": wave["version"], "subjects": {"en": "One question"}})
    stale = call("PATCH", path, {"version": wave["version"], "name": "Autre nom"})

    assert status == 200
    assert edited["subjects"]["en"] == "One question"
    assert edited["subjects"]["fr"] == wave["subjects"]["fr"]
    assert stale[0] == 409
    assert "reload" in stale[1]["message"]


def test_a_wave_that_started_can_no_longer_be_edited(api: ResolvedTemplate) -> None:
    _, wave = create()
    start(wave["wave_id"])

    status, answer = call("PATCH", f"/waves/{wave['wave_id']}", {"version": 99, "name": "Trop tard"})

    assert status == 409
    assert "only a planned wave" in answer["message"]


# ------------------------------------------------------------------ cancel


def test_cancelling_a_planned_wave_deletes_its_schedules_and_it_never_starts(api: ResolvedTemplate) -> None:
    _, wave = create()

    status, cancelled = call("POST", f"/waves/{wave['wave_id']}/cancel")
    again = call("POST", f"/waves/{wave['wave_id']}/cancel")

    assert status == 200
    assert cancelled["status"] == "cancelled"
    assert again[0] == 200
    assert list(scheduled(api)) == []
    at(NOW + timedelta(minutes=2))
    assert start(wave["wave_id"]).outcome == "ignored"
    assert invitations_of(wave["wave_id"]) == []


def test_a_closed_wave_cannot_be_cancelled(api: ResolvedTemplate) -> None:
    _, wave = create()
    Wave.get(wave["wave_id"]).update(actions=[Wave.status.set("closed")])

    status, answer = call("POST", f"/waves/{wave['wave_id']}/cancel")

    assert status == 409
    assert "closed" in answer["message"]


# ------------------------------------------------------------------ preview, test-send


def test_preview_renders_the_email_for_a_contact_in_french_and_in_english(api: ResolvedTemplate) -> None:
    _, wave = create(subjects={"fr": "Votre avis, Dr", "en": "Your view, Dr"})
    contact = add_contacts(1, segment="pharmacy", prefix="p")[0]

    status, preview = call("POST", f"/waves/{wave['wave_id']}/preview", {"contact_id": contact.contact_id})

    assert status == 200
    assert preview["emails"]["fr"]["subject"] == "Votre avis, Dr"
    assert preview["emails"]["en"]["subject"] == "Your view, Dr"
    for language in ("fr", "en"):
        rendered = preview["emails"][language]
        assert rendered["to"] == contact.email
        assert rendered["headers"]["X-Closeloop-Invitation"] == preview["invitation_id"]
        assert rendered["html"].count("/r/") >= 11
    assert Invitation.count() == 0, "a preview stores nothing"
    assert call("POST", f"/waves/{wave['wave_id']}/preview", {"contact_id": "NOPE"})[0] == 404


def sent_emails() -> list[email.message.EmailMessage]:
    backend = get_backend("ses")["123456789012"]["eu-west-1"]
    return [
        email.message_from_bytes(message.raw_data.encode(), policy=policy.default)  # type: ignore[misc]
        for message in backend.sent_messages
        if getattr(message, "raw_data", None)
    ]


def test_a_test_email_goes_to_a_staff_address_marked_as_a_test_and_is_no_survey(api: ResolvedTemplate) -> None:
    _, wave = create(subjects={"en": "Your opinion"})

    status, answer = call(
        "POST", f"/waves/{wave['wave_id']}/test-send", {"to": " Hugo.Bernard@demo.closeloop.example", "language": "en"}
    )

    assert status == 200
    assert answer["sent_to"] == HUGO
    messages = sent_emails()
    assert len(messages) == 1
    assert messages[0]["To"] == HUGO
    assert messages[0]["Subject"] == "[TEST] Your opinion"
    assert messages[0]["X-Closeloop-Test"] == "yes"
    assert Invitation.count() == 0
    assert Wave.get(wave["wave_id"]).test_sends == 1


def test_a_test_email_to_anyone_but_staff_is_refused_and_nothing_is_sent(api: ResolvedTemplate) -> None:
    _, wave = create()

    status, answer = call(
        "POST", f"/waves/{wave['wave_id']}/test-send", {"to": "c0.pharmacy@customers.example", "language": "fr"}
    )

    assert status == 400
    assert "staff address" in answer["message"]
    assert sent_emails() == []
    assert clock.now() == NOW


def test_a_create_retried_with_the_same_idempotency_key_answers_the_same_wave(api: ResolvedTemplate) -> None:
    body = {"name": "Une seule", "target": {"segments": ["pharmacy"]}}

    first = call("POST", "/waves", body, headers={"Idempotency-Key": "retry-0001"})
    again = call("POST", "/waves", body, headers={"Idempotency-Key": "retry-0001"})
    other = call("POST", "/waves", body, headers={"Idempotency-Key": "retry-0002"})

    assert first[0] == again[0] == other[0] == 201
    assert first[1]["wave_id"] == again[1]["wave_id"] != other[1]["wave_id"]
    assert Wave.count() == 2
    assert len(list(scheduled(api))) == 6


# ------------------------------------------------------------------ what the staff pages need


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"target": {"segments": ["veterinary"]}}, "target.segments"),
        ({"starts_at": "2027-03-01T08:50:00+02:00"}, "starts_at"),
        ({"starts_at": "2027-03-10T09:00:00Z", "closes_at": "2027-03-09T09:00:00Z"}, "closes_at"),
        ({"reminder_delay": "P30D"}, "reminder_delay"),
        ({"target": {}}, "target"),
        ({"subjects": {"en": " "}}, "subjects.en"),
        ({"name": " "}, "name"),
    ],
)
def test_a_refused_wave_names_the_field_to_correct(api: ResolvedTemplate, changes: dict[str, Any], field: str) -> None:
    status, answer = create(**changes)

    assert status == 400
    assert answer["details"]["field"] == field


def test_a_planned_wave_is_rescheduled_and_its_schedules_move_with_it(api: ResolvedTemplate) -> None:
    _, wave = create(starts_at="2027-04-01T10:00:00+02:00", reminder_delay="P3D")
    path = f"/waves/{wave['wave_id']}"

    status, moved = call("PATCH", path, {"version": wave["version"], "starts_at": "2027-04-06T09:30:00+02:00"})
    past = call("PATCH", path, {"version": moved["version"], "starts_at": "2027-02-01T09:00:00+01:00"})

    assert status == 200, moved
    assert (moved["starts_at"], moved["reminder_at"], moved["closes_at"]) == (
        "2027-04-06T07:30:00Z",
        "2027-04-09T07:30:00Z",
        wave["closes_at"],
    )
    expressions = {s["Name"].rsplit("-", 1)[1]: s["ScheduleExpression"] for s in scheduled(api)}
    assert expressions == {
        "start": "at(2027-04-06T09:30:00)",
        "reminder": "at(2027-04-09T09:30:00)",
        "close": "at(2027-04-22T10:00:00)",
    }
    assert past[0] == 400
    assert past[1]["details"]["field"] == "starts_at"
    assert call("GET", path)[1]["starts_at"] == "2027-04-06T07:30:00Z"


def test_a_preview_without_a_contact_is_rendered_for_the_person_asking(api: ResolvedTemplate) -> None:
    _, wave = create(subjects={"fr": "Votre avis", "en": "Your view"})

    status, preview = call("POST", f"/waves/{wave['wave_id']}/preview", {}, who=HUGO, groups="[caller]")

    assert status == 200
    assert preview["contact_id"] is None
    assert (preview["emails"]["fr"]["subject"], preview["emails"]["en"]["subject"]) == ("Votre avis", "Your view")
    assert preview["emails"]["en"]["to"] == HUGO
    assert "Hugo" in preview["emails"]["fr"]["text"]
    assert Invitation.count() == 0


def test_a_wave_and_the_list_say_when_their_counts_were_read(api: ResolvedTemplate) -> None:
    _, wave = create()

    shown = call("GET", f"/waves/{wave['wave_id']}")[1]
    listed = call("GET", "/waves")[1]

    assert shown["as_of"] == listed["as_of"] == "2027-03-01T08:00:00Z"
