"""Where the local runtime makes moto behave as DynamoDB does: exact numbers under ADD, and table
streams that a cancelled transaction does not leave behind their readers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from closeloop_local.moto_numbers import exact_numbers
from closeloop_local.moto_streams import streams_survive_rollbacks

REGION = "eu-west-1"


@pytest.fixture
def dynamodb(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    exact_numbers()
    streams_survive_rollbacks()
    with mock_aws():
        client = boto3.client("dynamodb", region_name=REGION)
        client.create_table(
            TableName="counters",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        yield client


def _add(client: Any, value: str) -> str:
    answer = client.update_item(
        TableName="counters",
        Key={"id": {"S": "all"}},
        UpdateExpression="ADD w2 :v",
        ExpressionAttributeValues={":v": {"N": value}},
        ReturnValues="UPDATED_NEW",
    )
    return str(answer["Attributes"]["w2"]["N"])


def test_a_sum_of_squared_weights_back_to_zero_and_tiny_values_stay_exact_and_addable(dynamodb: Any) -> None:
    assert _add(dynamodb, "0.11108889") == "0.11108889"
    assert _add(dynamodb, "-0.11108889") == "0"  # moto alone stores "0E-8", and the next ADD fails
    assert _add(dynamodb, "0.00000001") == "0.00000001"  # alone: "1E-8"
    assert _add(dynamodb, "2.25") == "2.25000001"
    assert _add(dynamodb, "-2.25000001") == "0"


def test_a_reader_following_its_iterators_still_sees_records_after_a_cancelled_transaction(dynamodb: Any) -> None:
    endpoint = f"https://streams.dynamodb.{REGION}.amazonaws.com"
    streams = boto3.client("dynamodbstreams", region_name=REGION, endpoint_url=endpoint)
    arn = dynamodb.describe_table(TableName="counters")["Table"]["LatestStreamArn"]
    [shard] = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="LATEST")
    iterator = iterator["ShardIterator"]

    def put(key: str) -> dict[str, Any]:
        return {
            "Put": {
                "TableName": "counters",
                "Item": {"id": {"S": key}},
                "ConditionExpression": "attribute_not_exists(id)",
            }
        }

    dynamodb.put_item(TableName="counters", Item={"id": {"S": "first"}})
    page = streams.get_records(ShardIterator=iterator)
    assert [r["dynamodb"]["Keys"]["id"]["S"] for r in page["Records"]] == ["first"]
    iterator = page["NextShardIterator"]

    # When a transaction writes one item, then fails its condition on the next: cancelled
    with pytest.raises(ClientError, match="TransactionCanceled"):
        dynamodb.transact_write_items(TransactItems=[put("phantom"), put("first")])
    dynamodb.put_item(TableName="counters", Item={"id": {"S": "after"}})

    # Then the reader sees the write made after it, and nothing of the cancelled transaction
    page = streams.get_records(ShardIterator=iterator)
    assert [r["dynamodb"]["Keys"]["id"]["S"] for r in page["Records"]] == ["after"]
    assert "Item" not in dynamodb.get_item(TableName="counters", Key={"id": {"S": "phantom"}})
