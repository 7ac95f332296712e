"""EventBridge events reach the functions whose template rules match them, as EventBridge invokes Lambda."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from closeloop_local.eventbridge import json_path
from closeloop_local.runtime import Runtime
from tests.runtime.mail.support import seen

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]


def put(runtime: Runtime, *entries: dict[str, Any]) -> list[str]:
    """Put events on the stack's bus as the product does; their EventBridge ids."""
    bus = runtime.physical_name("DomainBus")
    answer = runtime.client("events").put_events(
        Entries=[
            {"EventBusName": bus, "Source": "closeloop.test", "DetailType": "Thing Happened", **entry}
            for entry in entries
        ]
    )
    assert answer["FailedEntryCount"] == 0
    return [entry["EventId"] for entry in answer["Entries"]]


def test_a_put_event_reaches_every_matching_rule_and_a_queue_subscribed_in_moto_still_gets_it(
    runtime: Runtime,
) -> None:
    # Given a queue subscribed to the bus through EventBridge's API (moto delivers to queues itself)
    name = f"mail-tap-{uuid.uuid4().hex[:8]}"
    sqs, events = runtime.client("sqs"), runtime.client("events")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    bus = runtime.physical_name("DomainBus")
    events.put_rule(Name=name, EventBusName=bus, EventPattern=json.dumps({"source": ["closeloop.test"]}))
    events.put_targets(Rule=name, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
    marker = uuid.uuid4().hex

    # When the product puts a big thing on its bus
    (event_id,) = put(runtime, {"Detail": json.dumps({"size": 12, "marker": marker}), "Resources": ["thing/1"]})
    assert runtime.event_sources.drain(timeout=30)

    # Then the SAM rule's function gets the detail (InputPath $.detail) ...
    assert [s.event for s in seen(runtime, "detail") if s.event.get("marker") == marker] == [
        {"size": 12, "marker": marker}
    ]
    # ... the AWS::Events::Rule's function the whole event, shaped as EventBridge delivers it ...
    (whole,) = [s.event for s in seen(runtime, "rule") if s.event["detail"].get("marker") == marker]
    assert whole["version"] == "0"
    assert whole["id"] == event_id
    assert whole["source"] == "closeloop.test"
    assert whole["detail-type"] == "Thing Happened"
    assert whole["account"] == "123456789012"
    assert whole["region"] == "eu-west-1"
    assert whole["resources"] == ["thing/1"]
    assert whole["time"].endswith("Z")
    # ... and the queue subscribed in moto still gets it
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=2).get("Messages", [])
    assert [json.loads(m["Body"])["detail"]["marker"] for m in messages] == [marker]


def test_an_event_is_delivered_only_where_the_pattern_matches(runtime: Runtime) -> None:
    small, other_source, other_bus = (uuid.uuid4().hex for _ in range(3))

    put(runtime, {"Detail": json.dumps({"size": 3, "marker": small})})
    put(runtime, {"Source": "someone.else", "Detail": json.dumps({"size": 50, "marker": other_source})})
    runtime.client("events").put_events(
        Entries=[
            {"Source": "closeloop.test", "DetailType": "Thing Happened", "Detail": json.dumps({"marker": other_bus})}
        ]
    )  # the default bus: no rule of the stack listens there for these
    assert runtime.event_sources.drain(timeout=30)

    details = [s.event.get("marker") for s in seen(runtime, "detail")]
    rules = [s.event["detail"].get("marker") for s in seen(runtime, "rule")]
    assert small in details  # a small thing still happened
    assert small not in rules  # but size 3 is not > 10
    assert other_source not in details
    assert other_source not in rules
    assert other_bus not in details
    assert other_bus not in rules
    assert not [s for s in seen(runtime, "ses") if s.event["source"] != "aws.ses"]


def test_an_input_path_reads_nested_fields_and_lists() -> None:
    event = {"detail": {"items": [{"id": "a"}, {"id": "b"}]}}

    assert json_path(event, "$") == event
    assert json_path(event, "$.detail.items[1].id") == "b"
    assert json_path(event, "$.detail.missing") is None
