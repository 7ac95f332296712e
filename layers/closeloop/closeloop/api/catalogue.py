"""Every router of the product, so that one OpenAPI document describes the routes of every function."""

from __future__ import annotations

import copy
import importlib
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.models import HTTPBearer, Server

from closeloop import __version__

# Add a module here when it adds routes; a test holds these routes equal to template.yaml's.
ROUTER_MODULES = (
    "closeloop.api.platform",
    "closeloop.api.staff",
    "closeloop.api.contacts",
    "closeloop.api.imports",
    "closeloop.api.waves",
    "closeloop.api.survey",
    "closeloop.api.unsubscribe",
    "closeloop.api.quarantine",
    "closeloop.api.responses",
    "closeloop.api.cases",
    "closeloop.api.staff_app",
)


def all_routers() -> list[Router]:
    return [importlib.import_module(name).router for name in ROUTER_MODULES]


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3 document of the whole HTTP API."""
    app = APIGatewayHttpResolver(enable_validation=True)
    for router in all_routers():
        # A copy: including a router binds it to the resolver, and the function serving these
        # routes in this process must keep its own.
        app.include_router(copy.copy(router))
    schema = app.get_openapi_schema(
        title="closeloop",
        version=__version__,
        description=(
            "NPS Close the Loop: survey pages, unsubscribe, the staff API. Staff routes need a bearer "
            "token from the staff sign-in (Cognito, or `closeloop login` locally)."
        ),
        servers=[Server(url="/")],
        security_schemes={"staffJwt": HTTPBearer(bearerFormat="JWT", description="Cognito ID token")},
    )
    document: dict[str, Any] = schema.model_dump(mode="json", by_alias=True, exclude_none=True)
    return document
