"""Helpers of the cases API tests: staff, contacts, responses and cases written as response_flow
opens them (docs/data-model.md 4.15), and the cases function called as API Gateway calls it."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from closeloop import clock
from closeloop.ids import new_id
from closeloop.models import Case, Contact, Response, Staff
from closeloop.models.staff import pool_of
from closeloop.rules.nps import category_of
from closeloop.rules.sla import business_calendar, sla_for, timer_shard
from closeloop.settings import get_settings
from tests.support import LambdaContext, load_event, load_handler

handler = load_handler("cases_api")

_ROUTES = ("attempts", "hand-back", "reassign")


def add_staff_member(
    email: str, name: str, *, groups: frozenset[str] = frozenset({"caller"}), language: str = "fr"
) -> Staff:
    """A staff member as the directory keeps them (pool set from groups and state)."""
    staff = Staff(
        new_id(),
        email=email.lower(),
        name=name,
        groups=set(groups),
        language=language,
        active=True,
        capacity=20,
        open_cases=0,
        pool=pool_of(groups, True),
    )
    staff.save()
    return staff


def add_customer(
    *,
    first_name: str = "Anne",
    last_name: str = "Moreau",
    company: str | None = "Pharmacie du Parc",
    phone: str | None = "+33612345678",
    language: str = "fr",
    owner: str | None = None,
) -> Contact:
    contact = Contact(
        new_id(),
        email=f"{first_name.lower()}.{new_id().lower()}@client.example",
        first_name=first_name,
        last_name=last_name,
        company=company,
        phone=phone,
        language=language,
        account_owner=owner,
        segment="pharmacy",
    )
    contact.save()
    return contact


def add_response(
    contact: Contact, *, score: int, comment: str | None = None, confirmed: bool = True, at: datetime | None = None
) -> Response:
    answered = at or clock.now()
    response = Response(
        new_id().lower(),
        contact_id=contact.contact_id,
        wave_id="01WAVE0000000000000000000A",
        segment=contact.segment,
        language=contact.language,
        month=answered.strftime("%Y-%m"),
        score=score,
        first_score=score,
        category=category_of(score),
        confirmed=confirmed,
        source="form" if confirmed else "click",
        comment=comment,
        has_comment=comment is not None,
        captured_month=answered.strftime("%Y-%m"),
        created_at=answered,
    )
    response.save()
    return response


def open_case(response: Response, assignee: Staff | None, *, contact_phone: bool = True) -> Case:
    """The case response_flow opens for this response: status open, due and reminder from the SLA,
    the script of its category and language, its assignee, the first timer pending."""
    settings = get_settings()
    sla = sla_for(response.category, response.created_at, business_calendar(settings), settings)
    step, step_at = sla.first_timer()
    now = clock.now()
    case = Case(
        response.response_id,
        contact_id=response.contact_id,
        wave_id=response.wave_id,
        segment=response.segment,
        language=response.language,
        month=response.month,
        score=int(response.score),
        category=response.category,
        confirmed=response.confirmed,
        responded_at=response.created_at,
        opened_at=now,
        due_at=sla.due_at,
        script=f"{response.category}.{response.language}",
        assignee_id=assignee.staff_id if assignee else None,
        assigned_at=now if assignee else None,
        assignment="load" if assignee else None,
        queue_due_at=sla.due_at if assignee else None,
        status="open",
        has_phone=contact_phone,
        timer_shard=timer_shard(response.response_id),
        next_timer_at=step_at,
        next_timer_step=step,
    )
    case.save()
    return case


def case_for(
    assignee: Staff | None,
    *,
    score: int = 3,
    comment: str | None = None,
    confirmed: bool = True,
    responded_at: datetime | None = None,
    **customer: Any,
) -> Case:
    """A customer, their response and the case it opened, in one go."""
    contact = add_customer(**customer)
    response = add_response(contact, score=score, comment=comment, confirmed=confirmed, at=responded_at)
    return open_case(response, assignee)


def stored_case(case_id: str) -> Case:
    return Case.get(case_id, consistent_read=True)


def _route(path: str) -> tuple[str, dict[str, str]]:
    parts = path.strip("/").split("?")[0].split("/")
    if parts[0] == "taxonomy" and len(parts) == 2:
        return "/taxonomy/{tag}", {"tag": parts[1]}
    if parts[0] == "cases" and len(parts) >= 2 and parts[1] != "mine":
        route = "/cases/{case_id}" + ("/" + parts[2] if len(parts) > 2 else "")
        return route, {"case_id": parts[1]}
    return "/" + "/".join(parts), {}


def call(
    method: str,
    path: str,
    body: Any = None,
    *,
    who: Staff,
    groups: str = "[caller]",
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    """The cases function's answer to one request of `who`, as API Gateway hands it over."""
    event = load_event("http/me.json")
    route, parameters = _route(path)
    event["routeKey"] = event["requestContext"]["routeKey"] = f"{method} {route}"
    event["rawPath"] = event["requestContext"]["http"]["path"] = path
    event["requestContext"]["http"]["method"] = method
    if parameters:
        event["pathParameters"] = parameters
    if query:
        event["queryStringParameters"] = query
        event["rawQueryString"] = "&".join(f"{key}={value}" for key, value in query.items())
    event["headers"].update({name.lower(): value for name, value in (headers or {}).items()})
    if body is not None:
        event["body"] = json.dumps(body)
        event["headers"]["content-type"] = "application/json"
    claims = event["requestContext"]["authorizer"]["jwt"]["claims"]
    claims.update({"email": who.email, "cognito:groups": groups, "sub": f"sub-{who.staff_id}"})
    answer = handler(event, LambdaContext())
    return answer["statusCode"], json.loads(answer["body"])


def later(hours: float) -> None:
    """Move the frozen domain clock forward."""
    clock.set_state(frozen_at=clock.now() + timedelta(hours=hours))
