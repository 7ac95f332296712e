"""EventBridge event patterns, as rules and Lambda filters use them."""

from __future__ import annotations

from typing import Any

import pytest

from closeloop_local.patterns import EventPattern, InvalidPatternError, matches

EVENT: dict[str, Any] = {
    "source": "closeloop",
    "detail-type": "ResponseCaptured",
    "detail": {
        "score": 3,
        "ratio": 0.25,
        "language": "fr",
        "email": "Jane.Doe@Example.com",
        "tags": ["delivery", "price"],
        "channel": None,
        "urgent": True,
        "ip": "10.0.3.7",
        "file": "report-2025.csv",
        "answers": [{"question": "q1", "value": 9}, {"question": "q2", "value": 2}],
    },
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ({"source": ["closeloop"]}, True),
        ({"source": ["other"]}, False),
        ({"source": ["other", "closeloop"]}, True),
        ({"detail": {"score": [3]}}, True),
        ({"detail": {"score": [3.0]}}, True),
        ({"detail": {"score": ["3"]}}, False),
        ({"detail": {"urgent": [True]}}, True),
        ({"detail": {"urgent": [1]}}, False),
        ({"detail": {"channel": [None]}}, True),
        ({"detail": {"tags": ["price"]}}, True),
        ({"detail": {"tags": ["quality"]}}, False),
        ({"detail": {"language": [{"prefix": "f"}]}}, True),
        ({"detail": {"language": [{"prefix": "e"}]}}, False),
        ({"detail": {"file": [{"suffix": ".csv"}]}}, True),
        ({"detail": {"file": [{"suffix": {"equals-ignore-case": ".CSV"}}]}}, True),
        ({"detail": {"email": [{"prefix": {"equals-ignore-case": "jane."}}]}}, True),
        ({"detail": {"email": [{"equals-ignore-case": "jane.doe@example.com"}]}}, True),
        ({"detail": {"email": [{"equals-ignore-case": "john@example.com"}]}}, False),
        ({"detail": {"language": [{"anything-but": "en"}]}}, True),
        ({"detail": {"language": [{"anything-but": ["en", "fr"]}]}}, False),
        ({"detail": {"score": [{"anything-but": [1, 2]}]}}, True),
        ({"detail": {"score": [{"anything-but": 3}]}}, False),
        ({"detail": {"file": [{"anything-but": {"prefix": "report-"}}]}}, False),
        ({"detail": {"file": [{"anything-but": {"suffix": ".pdf"}}]}}, True),
        ({"detail": {"language": [{"anything-but": {"equals-ignore-case": ["EN", "DE"]}}]}}, True),
        ({"detail": {"file": [{"anything-but": {"wildcard": "*.csv"}}]}}, False),
        ({"detail": {"score": [{"numeric": [">", 0, "<=", 5]}]}}, True),
        ({"detail": {"score": [{"numeric": [">", 3]}]}}, False),
        ({"detail": {"ratio": [{"numeric": ["=", 0.25]}]}}, True),
        ({"detail": {"language": [{"numeric": [">", 0]}]}}, False),
        ({"detail": {"language": [{"exists": True}]}}, True),
        ({"detail": {"missing": [{"exists": True}]}}, False),
        ({"detail": {"missing": [{"exists": False}]}}, True),
        ({"detail": {"language": [{"exists": False}]}}, False),
        ({"detail": {"missing": ["x"]}}, False),
        ({"detail": {"missing": [{"anything-but": "x"}]}}, False),
        ({"nowhere": {"deeper": [{"exists": False}]}}, True),
        ({"detail": {"file": [{"wildcard": "report-*.csv"}]}}, True),
        ({"detail": {"file": [{"wildcard": "report-*.pdf"}]}}, False),
        ({"detail": {"file": [{"wildcard": "report-2025\\*.csv"}]}}, False),
        ({"detail": {"ip": [{"cidr": "10.0.0.0/16"}]}}, True),
        ({"detail": {"ip": [{"cidr": "192.168.0.0/16"}]}}, False),
        ({"detail": {"answers": {"value": [{"numeric": [">=", 9]}]}}}, True),
        ({"detail": {"answers": {"value": [{"numeric": [">", 9]}]}}}, False),
        ({"source": ["closeloop"], "detail": {"score": [4]}}, False),
        ({"$or": [{"source": ["other"]}, {"detail": {"score": [3]}}]}, True),
        ({"$or": [{"source": ["other"]}, {"detail": {"score": [4]}}]}, False),
        ({"detail": {"$or": [{"language": ["en"]}, {"urgent": [True]}]}}, True),
    ],
)
def test_a_pattern_matches_as_eventbridge_does(pattern: dict[str, Any], expected: bool) -> None:
    assert matches(pattern, EVENT) is expected


def test_a_pattern_can_be_given_as_json_text_and_reused() -> None:
    pattern = EventPattern('{"body": {"kind": ["reminder"]}}')
    assert pattern.matches({"body": {"kind": "reminder"}})
    assert not pattern.matches({"body": {"kind": "invitation"}})
    assert not pattern.matches({"body": "reminder"})


def test_a_stream_record_filter_reads_its_image() -> None:
    record = {"eventName": "INSERT", "dynamodb": {"NewImage": {"status": {"S": "open"}}}}
    assert matches({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"status": {"S": ["open"]}}}}, record)
    assert not matches({"dynamodb": {"NewImage": {"status": {"S": ["closed"]}}}}, record)


@pytest.mark.parametrize(
    "pattern",
    [
        "not json",
        "[1, 2]",
        {"source": "closeloop"},
        {"source": []},
        {"detail": {"score": [{"numeric": [">"]}]}},
        {"detail": {"score": [{"numeric": ["~", 3]}]}},
        {"detail": {"score": [{"exists": "yes"}]}},
        {"detail": {"score": [{"between": [1, 2]}]}},
        {"detail": {"file": [{"prefix": 3}]}},
        {"detail": {"file": [{"wildcard": "a**b"}]}},
        {"detail": {"file": [{"anything-but": {"numeric": [">", 1]}}]}},
        {"detail": {"ip": [{"cidr": "not-a-network"}]}},
        {"$or": [{"source": ["a"]}]},
    ],
)
def test_an_invalid_pattern_is_refused(pattern: Any) -> None:
    with pytest.raises(InvalidPatternError):
        EventPattern(pattern)
