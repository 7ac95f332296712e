"""The product's template, run locally: health, the OpenAPI document, the docs page, signing in."""

from __future__ import annotations

from pathlib import Path

import httpx

from closeloop.services.directory import add_staff
from closeloop_local.runtime import Runtime
from tests.browser import chromium
from tests.e2e.conftest import token_for
from tests.support import ROOT, http_routes

CLAIRE = "claire.martin@demo.closeloop.example"
ARTIFACTS = ROOT / "test-artifacts"


def test_health_answers_200_through_the_gateway(http: httpx.Client) -> None:
    response = http.get("/health")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-correlation-id"]


def test_the_openapi_document_served_has_exactly_the_templates_routes(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()

    assert document["openapi"].startswith("3.")
    served = {f"{method.upper()} {path}" for path, ops in document["paths"].items() for method in ops}
    assert served == set(http_routes())


def test_me_answers_401_without_a_token_and_the_demo_staff_member_with_one(http: httpx.Client) -> None:
    assert http.get("/me").status_code == 401
    assert http.get("/me", headers={"Authorization": "Bearer not-a-token"}).status_code == 401

    token = token_for(http, CLAIRE)
    response = http.get("/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 200
    assert response.json()["name"] == "Claire Martin"
    assert response.json()["groups"] == ["caller", "manager"]


def test_a_staff_member_in_no_group_is_refused_by_the_group_check(system: Runtime, http: httpx.Client) -> None:
    # Given an employee in the directory who was given no group yet
    add_staff(email="new.hire@demo.closeloop.example", name="New Hire", groups=set())
    token = token_for(http, "new.hire@demo.closeloop.example")

    # When they call a staff route, the authorizer lets the valid token through, the route's check refuses
    response = http.get("/me", headers={"Authorization": f"Bearer {token}"})

    assert response.status_code == 403
    assert "admin, caller, manager" in response.json()["message"]


def test_the_docs_page_renders_every_route_in_chromium(system: Runtime) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    with chromium() as browser:
        page = browser.new_page()
        external: list[str] = []
        page.on(
            "request", lambda request: external.append(request.url) if not request.url.startswith(system.url) else None
        )

        page.goto(f"{system.url}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=15_000)
        paths = {element.inner_text().strip() for element in page.query_selector_all(".opblock-summary-path")}
        page.screenshot(path=str(Path(ARTIFACTS / "docs.png")), full_page=True)

    assert {key.split(" ", 1)[1] for key in http_routes()} <= paths
    assert [url for url in external if not url.startswith("data:")] == [], "the page loads nothing from elsewhere"
