"""The correlation id follows the work from one function to the next, whatever started it."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import pytest
from aws_lambda_powertools.metrics.provider.cold_start import reset_cold_start_flag

from closeloop.observability import correlation_id, correlation_id_from, instrument, logger, sqs_attributes
from tests.support import load_event


@pytest.mark.parametrize(
    ("event_file", "expected"),
    [
        ("http/me.json", "corr-me-0001"),  # the caller's x-correlation-id header
        ("http/health.json", "Kv3YIiWnDoEEMbQ="),  # else API Gateway's request id
        ("sqs/message.json", "corr-sqs-0001"),  # a message attribute
        ("dynamodb/stream-insert.json", "corr-stream-0001"),  # an attribute of the streamed item
        ("eventbridge/domain-event.json", "corr-event-0001"),  # the event's detail
        ("scheduler/scheduled.json", "corr-schedule-0001"),  # the schedule's input
    ],
)
def test_the_correlation_id_is_found_in_every_kind_of_event(event_file: str, expected: str) -> None:
    assert correlation_id_from(load_event(event_file)) == expected


def test_a_header_that_is_not_a_plain_id_is_ignored() -> None:
    event = load_event("http/health.json")
    event["headers"]["x-correlation-id"] = "<script>alert(1)</script>"
    assert correlation_id_from(event) == "Kv3YIiWnDoEEMbQ="


def test_without_anything_the_lambda_request_id_is_used() -> None:
    context = SimpleNamespace(aws_request_id="req-123")
    assert correlation_id_from({}, context) == "req-123"


def _context() -> SimpleNamespace:
    return SimpleNamespace(
        function_name="test-fn",
        memory_limit_in_mb=128,
        invoked_function_arn="arn:aws:lambda:eu-west-1:123456789012:function:test-fn",
        aws_request_id="req-456",
    )


def test_an_instrumented_handler_logs_with_the_correlation_id_and_passes_it_on(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")
    reset_cold_start_flag()  # as in a fresh container, whatever ran before in this process
    log = io.StringIO()
    previous = logger.registered_handler.setStream(log)  # type: ignore[attr-defined]
    seen: dict[str, object] = {}

    @instrument
    def handler(event: dict[str, object], context: object) -> str:
        logger.info("working")
        seen["id"] = correlation_id()
        seen["attributes"] = sqs_attributes()
        return "done"

    try:
        assert handler(load_event("sqs/message.json"), _context()) == "done"
    finally:
        logger.registered_handler.setStream(previous)  # type: ignore[attr-defined]

    assert seen["id"] == "corr-sqs-0001"
    assert seen["attributes"] == {"correlation_id": {"DataType": "String", "StringValue": "corr-sqs-0001"}}
    lines = [json.loads(line) for line in log.getvalue().splitlines()]
    working = next(line for line in lines if line.get("message") == "working")
    assert working["correlation_id"] == "corr-sqs-0001"
    assert working["function_name"] == "test-fn"
    metrics = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert any("ColdStart" in line for line in metrics), "the cold start metric is emitted"
