"""S3 notifications to functions, delivered by the local runtime as the template declares them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from closeloop_local.runtime import Runtime

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(90)]

TEMPLATE = Path(__file__).with_name("template.yaml")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    state = tmp_path_factory.mktemp("state")
    with Runtime(TEMPLATE, port=0, seed=False, state_dir=state, echo_logs=False) as started:
        yield started


def records(runtime: Runtime) -> list[dict[str, Any]]:
    table = runtime.physical_name("SeenTable")
    items = runtime.client("dynamodb").scan(TableName=table)["Items"]
    return [json.loads(item["record"]["S"]) for item in items]


def keys(runtime: Runtime) -> list[str]:
    return sorted(r["s3"]["object"]["key"] for r in records(runtime))


def test_an_object_written_under_the_filter_reaches_the_function_in_the_shape_s3_sends(runtime: Runtime) -> None:
    bucket = runtime.physical_name("DropBucket")

    runtime.client("s3").put_object(Bucket=bucket, Key="in/2026 list+1.csv", Body=b"email\na@b.fr\n")
    assert runtime.event_sources.drain(timeout=20)

    (record,) = [r for r in records(runtime) if r["s3"]["object"]["key"].startswith("in/2026")]
    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["awsRegion"] == "eu-west-1"
    assert record["s3"]["bucket"] == {
        "name": bucket,
        "ownerIdentity": record["s3"]["bucket"]["ownerIdentity"],
        "arn": f"arn:aws:s3:::{bucket}",
    }
    assert record["s3"]["object"]["key"] == "in/2026+list%2B1.csv"
    assert record["s3"]["object"]["size"] == 13
    assert record["s3"]["object"]["eTag"]
    assert record["s3"]["object"]["sequencer"]
    assert record["s3"]["configurationId"] == "UploadedFunctionUpload"


def test_a_presigned_put_notifies_and_objects_outside_the_filter_do_not(runtime: Runtime) -> None:
    s3 = runtime.client("s3")
    bucket = runtime.physical_name("DropBucket")
    before = keys(runtime)
    url = s3.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "in/presigned.csv"}, ExpiresIn=60)

    assert httpx.put(url, content=b"email\n").status_code == 200
    s3.put_object(Bucket=bucket, Key="out/elsewhere.csv", Body=b"x")
    s3.put_object(Bucket=bucket, Key="in/notes.txt", Body=b"x")
    assert runtime.event_sources.drain(timeout=20)

    # at least once, as S3 delivers: a retried invocation (a cold worker timed out) may bring it twice
    assert {k for k in keys(runtime) if k not in before} == {"in/presigned.csv"}
