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


def request_language(app: Router | APIGatewayHttpResolver) -> Language:
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


# Pydantic's error types -> what a person reads, in English and French ({name} from the error's ctx)
_PROBLEMS: dict[str, tuple[str, str]] = {
    "missing": ("required", "obligatoire"),
    "string_too_short": ("at least {min_length} characters", "au moins {min_length} caractères"),
    "string_too_long": ("at most {max_length} characters", "au plus {max_length} caractères"),
    "too_short": ("at least {min_length} items", "au moins {min_length} éléments"),
    "too_long": ("at most {max_length} items", "au plus {max_length} éléments"),
    "greater_than_equal": ("must be {ge} or more", "doit valoir au moins {ge}"),
    "greater_than": ("must be more than {gt}", "doit valoir plus de {gt}"),
    "less_than_equal": ("must be {le} or less", "doit valoir au plus {le}"),
    "less_than": ("must be less than {lt}", "doit valoir moins de {lt}"),
    "int_parsing": ("must be a whole number", "doit être un nombre entier"),
    "int_type": ("must be a whole number", "doit être un nombre entier"),
    "float_parsing": ("must be a number", "doit être un nombre"),
    "bool_parsing": ("must be true or false", "doit valoir true ou false"),
    "bool_type": ("must be true or false", "doit valoir true ou false"),
    "string_type": ("must be text", "doit être du texte"),
    "literal_error": ("must be one of {expected}", "doit être l'une de ces valeurs : {expected}"),
    "enum": ("must be one of {expected}", "doit être l'une de ces valeurs : {expected}"),
    "datetime_parsing": ("must be a date and time (ISO 8601)", "doit être une date et une heure (ISO 8601)"),
    "datetime_from_date_parsing": ("must be a date and time (ISO 8601)", "doit être une date et une heure (ISO 8601)"),
    "timezone_aware": ("must name its time zone", "doit préciser son fuseau horaire"),
    "date_parsing": ("must be a date (YYYY-MM-DD)", "doit être une date (AAAA-MM-JJ)"),
    "extra_forbidden": ("is not a field of this request", "n'est pas un champ de cette requête"),
    "json_invalid": ("is not valid JSON", "n'est pas du JSON valide"),
    "model_attributes_type": ("must be a JSON object", "doit être un objet JSON"),
    "dict_type": ("must be a JSON object", "doit être un objet JSON"),
    "list_type": ("must be a list", "doit être une liste"),
    "string_pattern_mismatch": ("is not in the expected form", "n'a pas la forme attendue"),
}


def validation_problem(item: dict[str, Any], language: Language) -> str:
    """A validation error as a person reads it in their language; Pydantic's own text for the rest."""
    known = _PROBLEMS.get(str(item.get("type", "")))
    if known is None:
        return str(item.get("msg", ""))
    text = known[1] if language == "fr" else known[0]
    try:
        return text.format(**(item.get("ctx") or {}))
    except (KeyError, IndexError):
        return str(item.get("msg", ""))


def _enforce_access(app: APIGatewayHttpResolver, next_middleware: NextMiddleware) -> Response[Any]:
    route_key = str(app.current_event.raw_event.get("routeKey", ""))
    identity = identity_from_event(app.current_event.raw_event)
    decision = decide(route_key, identity.groups if identity else frozenset(), authenticated=identity is not None)
    if not decision.allowed:
        logger.info("access refused", extra={"route": route_key, "reason": decision.reason})
        reason = decision.reason_in(request_language(app))
        error: DomainError = Forbidden(reason) if identity else NotAuthenticated(reason)
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

    def _say(english: str, french: str) -> str:
        return french if request_language(app) == "fr" else english

    @app.not_found
    def _not_found(_: Exception) -> Response[str]:
        return _json(404, {"error": "not_found", "message": _say("no such route", "aucune route à cette adresse")})

    if enable_validation:
        from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

        @app.exception_handler(RequestValidationError)
        def _invalid(error: RequestValidationError) -> Response[str]:
            language = request_language(app)
            details = [
                {
                    "where": ".".join(str(part) for part in item.get("loc", ())),
                    "problem": validation_problem(item, language),
                }
                for item in error.errors()
            ]
            summary = "; ".join(
                f"{d['where'].removeprefix('body.')}: {d['problem']}" if d["where"] else str(d["problem"])
                for d in details
            )
            message = _say("the request is not valid", "la requête n'est pas valide")
            body = {"error": "invalid_input", "message": f"{message} ({summary})" if summary else message}
            return _json(400, {**body, "details": details})

    @app.exception_handler(Exception)
    def _unexpected(error: Exception) -> Response[str]:
        request_id = app.current_event.request_context.request_id
        logger.exception("unexpected error", extra={"error_type": type(error).__name__})
        message = _say("something went wrong", "une erreur est survenue")
        return _json(500, {"error": "internal", "message": message, "requestId": request_id})

    return app
