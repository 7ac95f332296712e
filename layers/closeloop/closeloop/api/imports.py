"""Import routes: start a CSV import (an upload URL), list the imports, read one's progress and report.
Managers only."""

from __future__ import annotations

import json
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.event_handler.openapi.types import OpenAPIResponse

from closeloop.api.resolver import STAFF_SECURITY, current_identity, request_language
from closeloop.services import imports

router = Router()

_ERRORS: dict[int, OpenAPIResponse] = {401: {"description": "Not signed in"}, 403: {"description": "Managers only"}}


@router.post(
    "/imports",
    summary="Start a contacts import",
    description=(
        "Creates an import waiting for its file, and answers a presigned URL: PUT the CSV file to it "
        "(UTF-8 or Windows-1252, `,` or `;`, header names in French or English, an email column). "
        "The import starts when the upload ends; follow it at `GET /imports/{import_id}`."
    ),
    tags=["imports"],
    security=STAFF_SECURITY,
    responses={201: {"description": "The import and its upload URL"}, **_ERRORS},
)
def start_import() -> Response[str]:
    body = imports.start_import(current_identity(router).email)
    return Response(201, "application/json", json.dumps(body), headers={"Location": f"/imports/{body['import_id']}"})


@router.get(
    "/imports",
    summary="The imports, newest first",
    description=(
        "Each import's status, counts, who uploaded it and when, 20 a page: pass `next_cursor` back as "
        "`cursor`. The rejected rows are in each import's report."
    ),
    tags=["imports"],
    security=STAFF_SECURITY,
    responses={200: {"description": "A page of imports"}, **_ERRORS},
)
def list_imports(cursor: Annotated[str | None, Query(max_length=26)] = None) -> dict[str, Any]:
    return imports.list_imports(cursor=cursor, language=request_language(router))


@router.get(
    "/imports/<import_id>",
    summary="An import's progress and report",
    description=(
        "Status (`waiting` for the upload, `running`, `done`, `failed`), counts (rows, created, updated, "
        "unchanged, rejected, suppressed), why a failed file failed, and the rejected rows (line, reason, "
        "the email masked), 100 a page: pass `next_cursor` back as `cursor`."
    ),
    tags=["imports"],
    security=STAFF_SECURITY,
    responses={200: {"description": "The report"}, 404: {"description": "No such import"}, **_ERRORS},
)
def import_report(import_id: str, cursor: Annotated[str | None, Query(max_length=20)] = None) -> dict[str, Any]:
    return imports.import_report(import_id, cursor=cursor, language=request_language(router))
