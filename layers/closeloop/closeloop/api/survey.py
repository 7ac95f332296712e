"""Survey pages (F3): the score links of the email and the page's Send button. Public, HTML.

`GET /r/{token}/{score}` logs the click and shows the page with that score checked; `HEAD` does
the same without a body (Powertools routes HEAD only to a route declared for it, and never
drops a body itself); `POST /r/{token}` records the response. Every failure is a friendly page
in the customer's language (the Accept-Language of the request when no invitation is known).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse
from aws_lambda_powertools.utilities.data_classes import APIGatewayProxyEventV2

from closeloop import pages
from closeloop.errors import NotFound, Unavailable
from closeloop.observability import MetricUnit, logger, metrics
from closeloop.pages import Page
from closeloop.services import capture

router = Router()

MAX_FORM_FIELDS = 20


def _html(description: str) -> OpenAPIResponse:
    """An answer that is an HTML page."""
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


_PAGE_ANSWERS: dict[int, OpenAPIResponse] = {
    404: _html("The link opens nothing (bad, tampered or unknown token): a friendly page, nothing recorded"),
    410: _html("The wave has closed: a friendly page, nothing recorded"),
}


def _languages() -> tuple[str, str]:
    return pages.languages_from(router.current_event.headers.get("accept-language"))


def _answer(page: Page, *, head: bool = False) -> Response[str]:
    body = "" if head else pages.render(page)
    return Response(page.status, pages.CONTENT_TYPE, body, headers=pages.headers(page))


def _serve(build: Callable[[], Page], *, head: bool = False) -> Response[str]:
    """The page `build` makes, or the friendly page of what went wrong (never JSON to a customer)."""
    try:
        page = build()
    except NotFound:
        first, second = _languages()
        page = Page("not_found", first, 404, {"languages": [first, second]})
    except Unavailable:
        first, second = _languages()
        retry = {"Retry-After": str(capture.RETRY_AFTER_SECONDS)}
        page = Page("unavailable", first, 503, {"languages": [first, second]}, retry)
    except Exception as error:  # noqa: BLE001 - a customer gets a page, never a stack or JSON
        logger.exception("survey page failed", extra={"error_type": type(error).__name__})
        metrics.add_metric(name="survey_page_errors", unit=MetricUnit.Count, value=1)
        first, second = _languages()
        page = Page("unavailable", first, 500, {"languages": [first, second]})
    return _answer(page, head=head)


def _click(token: str, score: str, method: str) -> Page:
    event = router.current_event
    assert isinstance(event, APIGatewayProxyEventV2)
    http = event.request_context.http
    return capture.show_survey_page(token, score, method, http.user_agent, http.source_ip)


@router.get(
    "/r/<token>/<score>",
    summary="Survey page of a score link",
    description=(
        "The link of a score in the survey email (`score` 0-10), or its hidden trap link (`trap`). "
        "Logs the click (time, user agent, a keyed hash of the source address) and shows the NPS "
        "question with that score checked, the eleven scores to change it, a comment box and a Send "
        "button: nothing but the click log changes. In the customer's language; no script."
    ),
    tags=["survey"],
    responses={200: _html("The survey page (the trap link: an empty page)"), **_PAGE_ANSWERS},
)
def survey_page(token: str, score: str) -> Response[str]:
    return _serve(lambda: _click(token, score, "GET"))


@router.head(
    "/r/<token>/<score>",
    summary="Survey page of a score link, headers only",
    description=(
        "As the GET, without the page: the click is logged with method HEAD (a browser following "
        "a link never sends one, a mail scanner may), and nothing else changes."
    ),
    tags=["survey"],
    responses={200: _html("The survey page's headers"), **_PAGE_ANSWERS},
)
def survey_page_head(token: str, score: str) -> Response[str]:
    return _serve(lambda: _click(token, score, "HEAD"), head=True)


def _form() -> dict[str, list[str]]:
    event = router.current_event
    raw = event.body or ""
    if event.is_base64_encoded:
        try:
            raw = base64.b64decode(raw).decode("utf-8", errors="replace")
        except (binascii.Error, ValueError):
            return {}
    try:
        return parse_qs(raw, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS, errors="replace")
    except ValueError:  # more fields than any form of ours has
        return {}


@router.post(
    "/r/<token>",
    summary="Send the survey answer",
    description=(
        "The survey page's form (`application/x-www-form-urlencoded`: `score` 0-10, `comment` up to "
        "5,000 characters, optional). Records the response and marks the invitation in one "
        "transaction; the same answer again changes nothing, a new score or comment replaces the "
        "previous one until the team's first call. Answers the thank-you page of the response's "
        "category (detractor, passive, promoter)."
    ),
    tags=["survey"],
    responses={
        200: _html("The thank-you page"),
        400: _html("No score chosen, or a comment over the limit: the form again, with what was typed"),
        409: _html("The answer is with the team (the first call was made): no more changes here"),
        503: _html("The answer could not be saved just now, nothing was written: try again (Retry-After)"),
        **_PAGE_ANSWERS,
    },
)
def send_answer(token: str) -> Response[str]:
    return _serve(lambda: capture.submit_survey_form(token, _form()))
