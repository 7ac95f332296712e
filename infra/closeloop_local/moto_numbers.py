"""Numbers added with UpdateItem's ADD in moto as DynamoDB keeps them: exact, never in exponent form.

moto adds two numbers in Python's Decimal and stores `str()` of the sum, which Python writes in
exponent form for small or zero results with many decimals (1.5 - 1.5 is "0.0", but 0.11108889 -
0.11108889 is "0E-8", and 0.0001 squared is "1E-8"). The next ADD on that attribute reads any
number without a "." as an int and fails with a ValueError, so a counter of squared weights
(`w2_<conf>`, 8 decimals for weights of 4) stops for good once it passes through zero. DynamoDB
keeps 38 significant digits and never fails so. Here the sum is kept in plain notation, without
trailing zeros; nothing else moto answers changes.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from moto.dynamodb.models.dynamo_type import DDBType, DynamoType

_applied = False


def _plain(value: Decimal) -> str:
    if value == 0:
        return "0"
    return format(value.normalize(), "f")


def exact_numbers() -> None:
    """Patch moto's number arithmetic (idempotent, process-wide)."""
    global _applied
    if _applied:
        return
    _applied = True
    add, sub = DynamoType.__add__, DynamoType.__sub__

    def __add__(self: DynamoType, other: DynamoType) -> Any:  # noqa: N807 - moto's operator
        if self.type == other.type == DDBType.NUMBER:
            return DynamoType({DDBType.NUMBER: _plain(Decimal(self.value) + Decimal(other.value))})
        return add(self, other)

    def __sub__(self: DynamoType, other: DynamoType) -> Any:  # noqa: N807 - moto's operator
        if self.type == other.type == DDBType.NUMBER:
            return DynamoType({DDBType.NUMBER: _plain(Decimal(self.value) - Decimal(other.value))})
        return sub(self, other)

    DynamoType.__add__ = __add__  # type: ignore[method-assign]
    DynamoType.__sub__ = __sub__  # type: ignore[method-assign]
