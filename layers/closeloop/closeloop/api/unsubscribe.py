"""Unsubscribe routes (public): the page of the email's unsubscribe link, its POST (the page's button
and mail clients' RFC 8058 one-click POST to the List-Unsubscribe URL) and the undo.

Pages are HTML in the contact's language, served as every customer page is (closeloop.pages: never
cached, never indexed, no referrer, no script). Every problem with a token is the product's one
friendly 404 page, in the reader's language.
"""

from __future__ import annotations

from collections.abc import Callable
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from closeloop import pages
from closeloop.errors import NotFound, Unavailable
from closeloop.observability import MetricUnit, logger, metrics
from closeloop.pages import Page
from closeloop.services import unsubscribe as service

router = Router()

ONE_CLICK_FIELD = "List-Unsubscribe"
ONE_CLICK_VALUE = "One-Click"
"""RFC 8058: a mail client's one-click POST carries `List-Unsubscribe=One-Click`."""
MAX_FORM_FIELDS = 20
RETRY_AFTER_SECONDS = 5

_TEMPLATES = {
    "ask": "unsubscribe",
    "unsubscribed": "unsubscribe_done",
    "already": "unsubscribe_done",
    "undone": "unsubscribe_undone",
    "kept": "unsubscribe_undone",
}


def _html(description: str) -> OpenAPIResponse:
    """An answer that is an HTML page."""
    return {"description": description, "content": {"text/html": {"schema": {"type": "string"}}}}


_PAGE_ANSWERS: dict[int, OpenAPIResponse] = {
    404: _html("Not a valid unsubscribe link (one friendly page, whatever is wrong): nothing recorded"),
    503: _html("The request could not be recorded just now, nothing was written: try again (Retry-After)"),
}


@router.get(
    "/u/<token>",
    summary="Unsubscribe page",
    description=(
        "The page of the email's unsubscribe link, in the contact's language, with one button that "
        "confirms. A GET changes nothing (mail scanners open every link). No script."
    ),
    tags=["unsubscribe"],
    responses={
        200: _html("The page: the question, or the confirmation of an unsubscribe already made"),
        **_PAGE_ANSWERS,
    },
)
def unsubscribe_page(token: str) -> Response[str]:
    return _serve(lambda: service.show(token), token)


@router.post(
    "/u/<token>",
    summary="Unsubscribe",
    description=(
        "Suppresses the address at once: the page's button, and the RFC 8058 one-click POST mail "
        "clients send to the List-Unsubscribe URL (`application/x-www-form-urlencoded` or "
        "`multipart/form-data`, body `List-Unsubscribe=One-Click`). An address already suppressed "
        "gets the same confirmation and nothing changes. Answers the confirmation page, with a way "
        "to undo a mistaken click."
    ),
    tags=["unsubscribe"],
    responses={200: _html("The confirmation page"), **_PAGE_ANSWERS},
)
def unsubscribe(token: str) -> Response[str]:
    return _serve(lambda: service.unsubscribe(token, _source(router.current_event)), token)


@router.post(
    "/u/<token>/undo",
    summary="Undo an unsubscribe",
    description=(
        'The confirmation page\'s "this was a mistake" button: lifts the suppression only if this '
        "email's unsubscribe made it. A bounce, a complaint or another email's unsubscribe stays, "
        "and the page says the address remains unsubscribed."
    ),
    tags=["unsubscribe"],
    responses={200: _html("The page saying what became of the address"), **_PAGE_ANSWERS},
)
def undo_unsubscribe(token: str) -> Response[str]:
    return _serve(lambda: service.undo(token), token)


# ------------------------------------------------------------------ the request


def _source(event: Any) -> service.Source:
    """`one_click` for an RFC 8058 POST (its body names List-Unsubscribe=One-Click), else `link`."""
    body = event.decoded_body or ""
    raw = body.encode("utf-8", errors="replace") if isinstance(body, str) else bytes(body)
    content_type = str((event.headers or {}).get("content-type") or "")
    if content_type.lower().startswith("multipart/form-data"):  # its boundary keeps its case
        fields = _multipart_fields(content_type, raw)
    else:
        try:
            parsed = parse_qs(
                raw.decode("utf-8", errors="replace"),
                keep_blank_values=True,
                max_num_fields=MAX_FORM_FIELDS,
                errors="replace",
            )
        except ValueError:  # more fields than any unsubscribe form has
            parsed = {}
        fields = {name: values[0] for name, values in parsed.items() if values}
    return "one_click" if fields.get(ONE_CLICK_FIELD, "").strip() == ONE_CLICK_VALUE else "link"


def _multipart_fields(content_type: str, raw: bytes) -> dict[str, str]:
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    fields: dict[str, str] = {}
    if not message.is_multipart():
        return fields
    for part in list(message.iter_parts())[:MAX_FORM_FIELDS]:
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload.decode("utf-8", errors="replace")
    return fields


# ------------------------------------------------------------------ the pages


def _serve(build: Callable[[], service.UnsubscribePage], token: str) -> Response[str]:
    """The page of what `build` did, or the friendly page of what went wrong (never JSON to a customer)."""
    try:
        done = build()
        page = Page(
            _TEMPLATES[done.state],
            done.language,
            context={
                "state": done.state,
                "can_undo": done.can_undo,
                "unsubscribe_url": f"/u/{token}",
                "undo_url": f"/u/{token}/undo",
            },
        )
    except NotFound:
        first, second = pages.languages_from(router.current_event.headers.get("accept-language"))
        page = Page("not_found", first, 404, {"languages": [first, second]})
    except Unavailable as error:
        page = _unavailable(error, 503)
    except Exception as error:  # noqa: BLE001 - a customer gets a page, never a stack or JSON
        logger.exception("unsubscribe page failed", extra={"error_type": type(error).__name__})
        metrics.add_metric(name="unsubscribe_page_errors", unit=MetricUnit.Count, value=1)
        page = _unavailable(None, 500)
    return Response(page.status, pages.CONTENT_TYPE, pages.render(page), headers=pages.headers(page))


def _unavailable(error: Unavailable | None, status: int) -> Page:
    """Try again: in the contact's language when the invitation was read, else the reader's."""
    known = error.details.get("language") if error is not None and isinstance(error.details, dict) else None
    language = (
        known
        if known in pages.LANGUAGES
        else pages.languages_from(router.current_event.headers.get("accept-language"))[0]
    )
    return Page("unsubscribe_unavailable", language, status, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
