"""The Logger, Metrics and Tracer every function shares, and the correlation id that follows work.

The correlation id comes from the event that started the work (an `x-correlation-id` header, a
message attribute, an attribute of a streamed item, an event's detail) or, failing that, from the
request id; it is logged with every line, returned in HTTP answers, and written onto new items
and outgoing messages so that the next function picks it up again.
"""

from __future__ import annotations

import functools
import os
import re
import uuid
import warnings
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

logger = Logger(service=os.environ.get("POWERTOOLS_SERVICE_NAME", "closeloop"))
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE", "closeloop"))

# A function that emitted no metric in an invocation is normal here, not worth a warning each time.
warnings.filterwarnings("ignore", message="No application metrics to publish")

__all__ = ["MetricUnit", "correlation_id", "instrument", "logger", "metrics", "tracer"]

CORRELATION_HEADER = "x-correlation-id"
CORRELATION_ATTRIBUTE = "correlation_id"
_VALID = re.compile(r"^[A-Za-z0-9._:=+/-]{1,64}$")

_tracer: Any = None

Handler = TypeVar("Handler", bound=Callable[..., Any])


def tracer() -> Any:
    """The Powertools Tracer, created on first use (the X-Ray SDK is slow to import)."""
    global _tracer  # noqa: PLW0603 - one per container
    if _tracer is None:
        from aws_lambda_powertools import Tracer

        _tracer = Tracer()
    return _tracer


def correlation_id() -> str | None:
    """The correlation id of the work in progress, if any."""
    value = logger.get_correlation_id()
    return value if isinstance(value, str) else None


def _valid(value: object) -> str | None:
    return value if isinstance(value, str) and _VALID.match(value) else None


def correlation_id_from(event: Any, context: Any = None) -> str:
    """Find the correlation id an event carries, or make one from the request id."""
    found: str | None = None
    if isinstance(event, Mapping):
        headers = event.get("headers")
        if isinstance(headers, Mapping):
            found = _valid({k.lower(): v for k, v in headers.items()}.get(CORRELATION_HEADER))
        detail = event.get("detail")
        if found is None and isinstance(detail, Mapping):
            found = _valid(detail.get(CORRELATION_ATTRIBUTE))
        if found is None:
            found = _valid(event.get(CORRELATION_ATTRIBUTE))
        records = event.get("Records")
        if found is None and isinstance(records, list) and records:
            found = _from_record(records[0])
        context_of_request = event.get("requestContext")
        if found is None and isinstance(context_of_request, Mapping):
            found = _valid(context_of_request.get("requestId"))
    if found is None and context is not None:
        found = _valid(getattr(context, "aws_request_id", None))
    return found or uuid.uuid4().hex


def _from_record(record: Any) -> str | None:
    if not isinstance(record, Mapping):
        return None
    attributes = record.get("messageAttributes")  # SQS
    if isinstance(attributes, Mapping):
        attribute = attributes.get(CORRELATION_ATTRIBUTE)
        if isinstance(attribute, Mapping):
            return _valid(attribute.get("stringValue"))
    image = (record.get("dynamodb") or {}).get("NewImage")  # DynamoDB Streams
    if isinstance(image, Mapping):
        value = image.get(CORRELATION_ATTRIBUTE)
        if isinstance(value, Mapping):
            return _valid(value.get("S"))
    return None


def sqs_attributes() -> dict[str, dict[str, str]]:
    """Message attributes that carry the correlation id onto an SQS message."""
    value = correlation_id()
    return {CORRELATION_ATTRIBUTE: {"DataType": "String", "StringValue": value}} if value else {}


def _tracing_enabled() -> bool:
    return os.environ.get("POWERTOOLS_TRACE_DISABLED", "false").lower() not in {"1", "true"}


def instrument(handler: Handler) -> Handler:
    """Wrap a Lambda handler: Lambda context and correlation id in every log line, metrics flushed
    (cold start included), and a trace segment where tracing is on."""

    @functools.wraps(handler)
    def with_correlation(event: Any, context: Any) -> Any:
        logger.set_correlation_id(correlation_id_from(event, context))
        return handler(event, context)

    wrapped: Callable[..., Any] = metrics.log_metrics(capture_cold_start_metric=True, raise_on_empty_metrics=False)(
        with_correlation
    )
    wrapped = logger.inject_lambda_context(clear_state=True)(wrapped)

    traced: list[Callable[..., Any]] = []

    @functools.wraps(handler)
    def entry(event: Any, context: Any) -> Any:
        if not _tracing_enabled():
            return wrapped(event, context)
        if not traced:
            traced.append(tracer().capture_lambda_handler(wrapped))
        return traced[0](event, context)

    return entry  # type: ignore[return-value]
