"""The staff function: who is signed in, behind the group checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from closeloop.api.access import MANAGERS, ROUTE_ACCESS
from closeloop.api.catalogue import openapi_document
from closeloop.models import Staff
from closeloop.services.directory import add_staff
from closeloop_local.template import ResolvedTemplate
from tests.support import LambdaContext, load_event, load_handler

handler = load_handler("staff_api")
CLAIRE = "claire.martin@demo.closeloop.example"


def _me(**claims: str) -> dict[str, Any]:
    event = load_event("http/me.json")
    event["requestContext"]["authorizer"]["jwt"]["claims"].update(claims)
    result: dict[str, Any] = handler(event, LambdaContext())
    return result


def test_me_answers_the_directory_record_and_the_groups_of_the_token(stack: ResolvedTemplate) -> None:
    staff = add_staff(email=CLAIRE, name="Claire Martin", groups={"caller", "manager"}, department="cx")

    response = _me()

    assert response["statusCode"] == 200
    body = json.loads(response["body"])
    assert body["staff_id"] == staff.staff_id
    assert body["name"] == "Claire Martin"
    assert body["groups"] == ["caller", "manager"]
    assert body["language"] == "fr"
    assert response["headers"]["x-correlation-id"] == "corr-me-0001"


def test_me_refuses_someone_signed_in_but_not_in_the_directory(stack: ResolvedTemplate) -> None:
    response = _me(email="stranger@example.com")

    assert response["statusCode"] == 403
    assert json.loads(response["body"]) == {"error": "forbidden", "message": "you are not in the staff directory"}


def test_me_refuses_an_inactive_staff_member(stack: ResolvedTemplate) -> None:
    staff = add_staff(email=CLAIRE, name="Claire Martin", groups={"caller"})
    staff.update(actions=[Staff.active.set(False)])

    assert _me()["statusCode"] == 403


def test_a_request_without_claims_is_not_authenticated(stack: ResolvedTemplate) -> None:
    event = load_event("http/me.json")
    del event["requestContext"]["authorizer"]

    response = handler(event, LambdaContext())

    assert response["statusCode"] == 401


def test_the_group_check_refuses_a_group_the_route_does_not_admit(
    stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_staff(email=CLAIRE, name="Claire Martin", groups={"caller"})
    monkeypatch.setitem(ROUTE_ACCESS, "GET /me", MANAGERS)

    refused = _me(**{"cognito:groups": "[caller]"})
    admitted = _me(**{"cognito:groups": "[manager]"})

    assert refused["statusCode"] == 403
    assert "manager" in json.loads(refused["body"])["message"]
    assert admitted["statusCode"] == 200


def test_building_the_openapi_document_in_the_same_process_leaves_the_routes_to_their_function(
    stack: ResolvedTemplate,
) -> None:
    add_staff(email=CLAIRE, name="Claire Martin", groups={"caller"})

    openapi_document()

    assert _me()["statusCode"] == 200
