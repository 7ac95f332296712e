"""The platform function: health of the tables, the OpenAPI document, the docs page."""

from __future__ import annotations

import json

import boto3

from closeloop_local.template import ResolvedTemplate
from tests.support import LambdaContext, http_routes, load_event, load_handler

handler = load_handler("platform")


def _get(path: str) -> dict[str, object]:
    event = load_event("http/health.json", rawPath=path, routeKey=f"GET {path}")
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["routeKey"] = f"GET {path}"
    result: dict[str, object] = handler(event, LambdaContext())
    return result


def test_health_answers_200_when_every_table_is_reachable(stack: ResolvedTemplate) -> None:
    response = _get("/health")

    assert response["statusCode"] == 200
    assert json.loads(str(response["body"])) == {"status": "ok"}
    assert response["headers"]["x-correlation-id"] == "Kv3YIiWnDoEEMbQ="  # type: ignore[index]


def test_health_answers_503_naming_the_table_it_cannot_reach(stack: ResolvedTemplate) -> None:
    waves = stack.globals_environment["WAVES_TABLE"]
    boto3.client("dynamodb").delete_table(TableName=waves)

    response = _get("/health")

    assert response["statusCode"] == 503
    body = json.loads(str(response["body"]))
    assert body["status"] == "unavailable"
    assert body["unreachable"] == {waves: "ResourceNotFoundException"}


def test_the_openapi_document_lists_every_route_of_the_template(stack: ResolvedTemplate) -> None:
    response = _get("/openapi.json")

    assert response["statusCode"] == 200
    document = json.loads(str(response["body"]))
    assert document["openapi"].startswith("3.")
    served = {f"{method.upper()} {path}" for path, ops in document["paths"].items() for method in ops}
    assert served == set(http_routes())


def test_the_docs_page_embeds_swagger_ui_and_the_document_without_any_cdn(stack: ResolvedTemplate) -> None:
    response = _get("/docs")

    assert response["statusCode"] == 200
    assert str(response["headers"]["Content-Type"]).startswith("text/html")  # type: ignore[index]
    page = str(response["body"])
    assert "<title>closeloop API</title>" in page
    assert "SwaggerUIBundle" in page
    assert '"/me"' in page
    assert "https://" not in page.split("<script>", maxsplit=1)[0], "no stylesheet from another host"
    assert "<script src=" not in page, "no script from another host"
