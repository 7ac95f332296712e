"""Platform routes: health, the OpenAPI document of every route, and its Swagger UI."""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from closeloop.services.health import check_tables

router = Router()


@router.get(
    "/health",
    summary="Is the system up?",
    description="200 when this function reaches every table it was given, 503 naming those it cannot.",
    tags=["platform"],
    responses={200: {"description": "Healthy"}, 503: {"description": "A table cannot be reached"}},
)
def health() -> Response[str]:
    result = check_tables()
    if result.healthy:
        body: dict[str, Any] = {"status": "ok"}
        status = 200
    else:
        body = {"status": "unavailable", "unreachable": result.unreachable}
        status = 503
    return Response(status, "application/json", json.dumps(body), headers={"Cache-Control": "no-store"})


@router.get(
    "/openapi.json",
    summary="The OpenAPI document",
    description="One OpenAPI 3 document for the routes of every function.",
    tags=["platform"],
)
def openapi_json() -> Response[str]:
    return Response(200, "application/json", _document_json(), headers={"Cache-Control": "max-age=300"})


@router.get(
    "/docs",
    summary="API documentation",
    description="Swagger UI for the OpenAPI document, served by the product itself (no external CDN).",
    tags=["platform"],
)
def docs() -> Response[str]:
    if router.current_event.get_query_string_value("format") == "json":  # the page's own link to its spec
        return openapi_json()
    return Response(200, "text/html; charset=utf-8", _swagger_page(), headers={"Cache-Control": "max-age=300"})


@lru_cache(maxsize=1)
def _document_json() -> str:
    from closeloop.api.catalogue import openapi_document

    return json.dumps(openapi_document(), indent=2)


@lru_cache(maxsize=1)
def _swagger_page() -> str:
    from aws_lambda_powertools.event_handler.openapi import swagger_ui
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    assets = Path(swagger_ui.__file__).parent
    js = (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8")
    css = (assets / "swagger-ui.min.css").read_text(encoding="utf-8")
    spec = _document_json().replace("</", "<\\/")
    page = generate_swagger_html(spec, js, css, "", None, False)
    return page.replace("<title>Swagger UI</title>", "<title>closeloop API</title>", 1)
