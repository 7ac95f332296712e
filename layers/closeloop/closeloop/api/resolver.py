"""Builds the HTTP resolver of a function: its routers, access checks, and errors answered in one shape."""

from __future__ import annotations

import json
from typing import Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.middlewares import NextMiddleware

from closeloop.api.access import decide
from closeloop.errors import DomainError, Forbidden, NotAuthenticated, http_answer
from closeloop.identity import Identity, identity_from_event
from closeloop.observability import CORRELATION_HEADER, correlation_id, logger
from closeloop.settings import get_settings

STAFF_SECURITY: list[dict[str, list[str]]] = [{"staffJwt": []}]
# closeloop.rules.contact_fields.Language, not imported from there: the survey pages use this module
# and must not pay for phonenumbers.
Language = Literal["fr", "en"]


def _json(status: int, body: dict[str, Any]) -> Response[str]:
    headers = {"Cache-Control": "no-store"}
    cid = correlation_id()
    if cid:
        headers[CORRELATION_HEADER] = cid
    return Response(status_code=status, content_type="application/json", body=json.dumps(body), headers=headers)


def current_identity(app: APIGatewayHttpResolver | Router) -> Identity:
    """The signed-in staff member of the request being served (from a resolver or a router)."""
    identity = app.context.get("identity")
    if not isinstance(identity, Identity):
        raise NotAuthenticated("sign in first")
    return identity


def request_language(app: Router) -> Language:
    """The reader's language: Accept-Language, else the token's locale, else the programme's."""
    event = app.current_event
    header = (event.headers or {}).get("accept-language") or (event.headers or {}).get("Accept-Language") or ""
    for part in header.split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in ("fr", "en"):
            return "fr" if tag == "fr" else "en"
    identity = identity_from_event(event.raw_event)
    if identity and identity.locale and identity.locale[:2].lower() in ("fr", "en"):
        return "fr" if identity.locale[:2].lower() == "fr" else "en"
    return get_settings().default_language


def _enforce_access(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    route_key = str(app.current_event.raw_event.get("routeKey", ""))
    identity = identity_from_event(app.current_event.raw_event)
    decision = decide(route_key, identity.groups if identity else frozenset(), authenticated=identity is not None)
    if not decision.allowed:
        logger.info("access refused", extra={"route": route_key, "reason": decision.reason})
        error: DomainError = Forbidden(decision.reason) if identity else NotAuthenticated(decision.reason)
        return _json(*http_answer(error))
    app.append_context(identity=identity)
    response = next_middleware(app)
    cid = correlation_id()
    if cid:
        response.headers.setdefault(CORRELATION_HEADER, cid)
    return response


def build_resolver(*routers: Router, enable_validation: bool = False) -> APIGatewayHttpResolver:
    """A resolver serving these routers, with the group checks and the error mapping of closeloop."""
    app = APIGatewayHttpResolver(enable_validation=enable_validation)
    app.use([_enforce_access])
    for router in routers:
        app.include_router(router)

    @app.exception_handler(DomainError)
    def _domain_error(error: DomainError) -> Response[str]:
        return _json(*http_answer(error))

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        return _json(404, {"error": "not_found", "message": "no such route"})

    if enable_validation:
        from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

        @app.exception_handler(RequestValidationError)
        def _invalid(error: RequestValidationError) -> Response[str]:
            details = [
                {"where": ".".join(str(part) for part in item.get("loc", ())), "problem": item.get("msg")}
                for item in error.errors()
            ]
            return _json(400, {"error": "invalid_input", "message": "the request is not valid", "details": details})

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        request_id = app.current_event.request_context.request_id
        logger.exception("unexpected error", extra={"error_type": type(error).__name__})
        return _json(500, {"error": "internal", "message": "something went wrong", "requestId": request_id})

    return app
