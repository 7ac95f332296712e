"""API Gateway HTTP APIs, payload format 2.0: the template's routes, the event a request becomes,
and what a function's answer means as an HTTP response.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from closeloop_local.auth import JwtAuthorizer, claims_for_lambda
from closeloop_local.routes import DEFAULT_ROUTE
from closeloop_local.template import FUNCTION, HTTP_API, ResolvedTemplate, TemplateError
from closeloop_local.web import HttpRequest, HttpResponse

_TEXT_TYPES = ("application/json", "application/xml", "application/javascript")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@dataclass(frozen=True)
class ApiRoute:
    method: str
    path: str
    function_id: str
    api_id: str
    authorizer: JwtAuthorizer | None
    scopes: tuple[str, ...] = ()


def _authorizers(api_id: str, properties: dict[str, Any]) -> tuple[dict[str, JwtAuthorizer], str | None]:
    auth = properties.get("Auth") or {}
    found: dict[str, JwtAuthorizer] = {}
    for name, spec in (auth.get("Authorizers") or {}).items():
        config = spec.get("JwtConfiguration")
        if not config:
            raise TemplateError(f"HTTP API {api_id}: authorizer {name} is not a JWT authorizer")
        found[name] = JwtAuthorizer(
            name=name,
            issuer=str(config["issuer"]),
            audience=tuple(str(item) for item in config.get("audience") or ()),
            identity_source=str(spec.get("IdentitySource", "$request.header.Authorization")),
        )
    return found, auth.get("DefaultAuthorizer")


def api_routes(template: ResolvedTemplate) -> list[ApiRoute]:
    """Every HttpApi event of every function, with the authorizer that guards it."""
    apis = {
        template.refs[logical_id]: _authorizers(logical_id, resource.properties)
        for logical_id, resource in template.resources.items()
        if resource.type == HTTP_API
    }
    routes: list[ApiRoute] = []
    for function_id, resource in template.resources.items():
        if resource.type != FUNCTION:
            continue
        for name, event in template.functions[function_id].events.items():
            if event["Type"] != "HttpApi":
                continue
            properties = event["Properties"]
            where = f"function {function_id}, event {name}"
            api_id = str(properties["ApiId"])
            if api_id not in apis:
                raise TemplateError(f"{where}: ApiId names no HTTP API of the template")
            if str(properties.get("PayloadFormatVersion", "2.0")) != "2.0":
                raise TemplateError(f"{where}: only payload format 2.0 is served locally")
            authorizers, default = apis[api_id]
            auth = properties.get("Auth") or {}
            chosen = auth.get("Authorizer", default)
            if chosen not in (None, "NONE") and chosen not in authorizers:
                raise TemplateError(f"{where}: authorizer {chosen} is not declared by its HTTP API")
            path = str(properties.get("Path", DEFAULT_ROUTE))
            routes.append(
                ApiRoute(
                    method=str(properties.get("Method", "ANY")).upper(),
                    path=path,
                    function_id=function_id,
                    api_id=api_id,
                    authorizer=authorizers[chosen] if chosen not in (None, "NONE") else None,
                    scopes=tuple(auth.get("AuthorizationScopes") or ()),
                )
            )
    return routes


def is_text(content_type: str | None) -> bool:
    """Whether API Gateway passes a body of this type as text (else base64-encoded)."""
    media = (content_type or "").split(";")[0].strip().lower()
    return media.startswith("text/") or media in _TEXT_TYPES


def _joined(pairs: list[tuple[str, str]]) -> dict[str, str]:
    joined: dict[str, str] = {}
    for key, value in pairs:
        joined[key] = f"{joined[key]},{value}" if key in joined else value
    return joined


def request_id() -> str:
    """An id shaped like API Gateway's request ids."""
    return base64.b64encode(secrets.token_bytes(10)).decode()


def build_event(
    request: HttpRequest,
    *,
    route_key: str,
    path_parameters: dict[str, str],
    request_id: str,
    api_id: str,
    account_id: str,
    domain_name: str,
    port: int,
    claims: dict[str, Any] | None,
) -> dict[str, Any]:
    """The payload format 2.0 event API Gateway sends the route's function for this request."""
    now = datetime.now(UTC)
    cookies = [
        part.strip()
        for key, value in request.headers
        if key.lower() == "cookie"
        for part in value.split(";")
        if part.strip()
    ]
    headers = _joined([(key.lower(), value) for key, value in request.headers if key.lower() != "cookie"])
    headers.setdefault("host", domain_name)
    headers.update(
        {
            "x-forwarded-for": request.source_ip,
            "x-forwarded-port": str(port),
            "x-forwarded-proto": "http",
            "x-amzn-trace-id": f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}",
        }
    )
    context: dict[str, Any] = {
        "accountId": account_id,
        "apiId": api_id,
        "domainName": domain_name,
        "domainPrefix": re.split(r"[.:]", domain_name, maxsplit=1)[0],
        "http": {
            "method": request.method,
            "path": request.raw_path,
            "protocol": request.protocol,
            "sourceIp": request.source_ip,
            "userAgent": request.header("user-agent") or "",
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": f"{now:%d}/{_MONTHS[now.month - 1]}/{now:%Y:%H:%M:%S} +0000",
        "timeEpoch": int(now.timestamp() * 1000),
    }
    if claims is not None:
        context["authorizer"] = {"jwt": {"claims": claims_for_lambda(claims), "scopes": None}}
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": request.raw_path,
        "rawQueryString": request.raw_query,
        "headers": headers,
        "requestContext": context,
        "isBase64Encoded": False,
    }
    if cookies:
        event["cookies"] = cookies
    query = parse_qsl(request.raw_query, keep_blank_values=True)
    if query:
        event["queryStringParameters"] = _joined(query)
    if path_parameters:
        event["pathParameters"] = path_parameters
    if request.body:
        if is_text(request.header("content-type")):
            event["body"] = request.body.decode("utf-8", errors="replace")
        else:
            event["body"] = base64.b64encode(request.body).decode()
            event["isBase64Encoded"] = True
    return event


class MalformedResponse(Exception):
    """A function's answer that API Gateway would refuse (it answers 500 then)."""


def _header_value(name: str, value: Any) -> str:
    text = ("true" if value else "false") if isinstance(value, bool) else str(value)
    if "\r" in text or "\n" in text:
        raise MalformedResponse(f"header {name} has a line break")
    return text


def http_response(payload: Any) -> HttpResponse:
    """The HTTP response API Gateway makes of a function's answer (payload format 2.0)."""
    if not isinstance(payload, dict) or "statusCode" not in payload:
        body = payload if isinstance(payload, str) else json.dumps(payload)
        return HttpResponse(200, [("content-type", "application/json")], body.encode())
    try:
        status = int(payload["statusCode"])
    except (TypeError, ValueError) as error:
        raise MalformedResponse(f"statusCode {payload['statusCode']!r} is not a number") from error
    if not 100 <= status <= 599:
        raise MalformedResponse(f"statusCode {status} is not an HTTP status")
    headers = [(str(name), _header_value(name, value)) for name, value in (payload.get("headers") or {}).items()]
    for name, values in (payload.get("multiValueHeaders") or {}).items():
        headers.extend((str(name), _header_value(name, value)) for value in values)
    headers.extend(("set-cookie", _header_value("set-cookie", cookie)) for cookie in payload.get("cookies") or [])
    text = payload.get("body")
    if text is None:
        return HttpResponse(status, headers)
    if not isinstance(text, str):
        raise MalformedResponse("body is not a string")
    if payload.get("isBase64Encoded"):
        try:
            return HttpResponse(status, headers, base64.b64decode(text, validate=True))
        except binascii.Error as error:
            raise MalformedResponse("body is not valid base64") from error
    return HttpResponse(status, headers, text.encode())
