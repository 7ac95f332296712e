"""A wave's one-time schedules (start, reminder, close) and the planning queue's hand-overs: one
step of one wave per event (closeloop.services.planning)."""

from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from closeloop.observability import instrument
from closeloop.services.planning import run_wave_event

processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)


def _hand_over(record: SQSRecord, lambda_context: LambdaContext) -> None:
    run_wave_event(record.body, time_left=lambda: lambda_context.get_remaining_time_in_millis() / 1000, from_queue=True)


@instrument
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    if "Records" in event:  # the planning queue
        return process_partial_response(event=event, record_handler=_hand_over, processor=processor, context=context)
    return run_wave_event(event, time_left=lambda: context.get_remaining_time_in_millis() / 1000).as_dict()
