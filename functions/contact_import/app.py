"""S3 ObjectCreated on imports/: import the uploaded contacts CSV (once, however often S3 notifies)."""

from typing import Any

from aws_lambda_powertools.utilities.data_classes import S3Event, event_source
from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.observability import instrument
from closeloop.services.imports import run_import


@instrument
@event_source(data_class=S3Event)
def lambda_handler(event: S3Event, context: LambdaContext) -> dict[str, Any]:
    outcomes = {}
    for record in event.records:
        uploaded = record.s3.get_object
        outcomes[uploaded.key] = run_import(
            record.s3.bucket.name,
            uploaded.key,
            size=uploaded.size,
            etag=uploaded.etag,
            remaining_ms=context.get_remaining_time_in_millis,
        )
    return outcomes
