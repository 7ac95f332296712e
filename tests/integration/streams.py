"""A table's DynamoDB stream under moto, read and handed to a consumer as Lambda would."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import boto3

REGION = "eu-west-1"


class TableStream:
    """A table's stream, read from where it stood when made (or its start), fed to consumers."""

    def __init__(self, table: str, *, from_start: bool = False) -> None:
        arn = boto3.client("dynamodb", region_name=REGION).describe_table(TableName=table)["Table"]["LatestStreamArn"]
        # botocore names an account-based endpoint for calls with a stream ARN; moto answers the regional one
        endpoint = f"https://streams.dynamodb.{REGION}.amazonaws.com"
        self.streams = boto3.client("dynamodbstreams", region_name=REGION, endpoint_url=endpoint)
        self.arn = arn
        shards = self.streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        self.after: dict[str, str | None] = {shard["ShardId"]: None for shard in shards}
        if not from_start:
            self.read()

    def _iterator(self, shard_id: str) -> str:
        # A fresh iterator for every read: moto replaces a table (and its stream) by a copy when a
        # transaction fails, and an old iterator would read the old copy.
        after = self.after[shard_id]
        position: dict[str, str] = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": after}
            if after
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        return str(self.streams.get_shard_iterator(StreamArn=self.arn, ShardId=shard_id, **position)["ShardIterator"])

    def read(self) -> list[dict[str, Any]]:
        """The records written since the last read, oldest first."""
        records: list[dict[str, Any]] = []
        for shard_id in self.after:
            while True:
                found = self.streams.get_records(ShardIterator=self._iterator(shard_id))["Records"]
                if not found:
                    break
                self.after[shard_id] = found[-1]["dynamodb"]["SequenceNumber"]
                records += [_as_lambda_hands_it(record, self.arn) for record in found]
        return records


def _as_lambda_hands_it(record: dict[str, Any], arn: str) -> dict[str, Any]:
    """A record of GetRecords as Lambda passes it on: with its source ARN, times in epoch seconds."""
    images = dict(record["dynamodb"])
    created = images.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        images["ApproximateCreationDateTime"] = int(created.timestamp())
    return {**record, "dynamodb": images, "eventSourceARN": arn}
