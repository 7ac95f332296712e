"""The staff pages' frame over the local runtime: sign-in with PKCE, return to the page asked for,
the headers that keep customer text inert, sign-out."""

from __future__ import annotations

import httpx

from closeloop_local.runtime import Runtime
from tests.e2e.staff_pages import browser, open_page, settled, sign_in

HUGO = "hugo.bernard@demo.closeloop.example"


def test_every_staff_path_serves_the_one_page_with_a_strict_content_security_policy(http: httpx.Client) -> None:
    for path in ("/staff", "/staff/waves", "/staff/cases/01JCASE"):
        response = http.get(path)

        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy
        assert "default-src 'none'" in policy
        assert "unsafe-inline" not in policy
        assert '<script type="module" src="/staff/assets/app.js' in response.text


def test_an_asset_is_served_with_its_type_and_revalidated_by_its_etag(http: httpx.Client) -> None:
    first = http.get("/staff/assets/core.js")
    again = http.get("/staff/assets/core.js", headers={"If-None-Match": first.headers["etag"]})

    assert first.status_code == 200
    assert first.headers["content-type"].startswith("text/javascript")
    assert again.status_code == 304
    assert http.get("/staff/assets/..%2Ftemplating.py").status_code == 404
    assert http.get("/staff/assets/nothing.js").status_code == 404


def test_signing_in_through_the_local_hosted_ui_returns_to_the_page_asked_for(system: Runtime) -> None:
    with browser() as chromium:
        page, watched = open_page(chromium, system)

        sign_in(page, system, HUGO, "/staff/queue")

        assert page.url == f"{system.url}/staff/queue"
        assert "Hugo Bernard" in page.locator("header").inner_text()
        assert watched.script_errors == []
        assert watched.foreign_requests == []


def test_signing_out_ends_the_session_and_the_next_visit_signs_in_again(system: Runtime) -> None:
    with browser() as chromium:
        page, _ = open_page(chromium, system)
        sign_in(page, system, HUGO)

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{system.url}/staff/signed-out")
        settled(page)

        assert page.get_by_role("heading", name="You are signed out").is_visible()
        assert page.evaluate("localStorage.getItem('closeloop.session')") is None
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{system.url}/_local/oauth2/authorize?*")
