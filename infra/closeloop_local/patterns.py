"""EventBridge event patterns: validated once, then matched against events (rules, Lambda filters).

Semantics follow EventBridge: every key of the pattern must match; a list of matchers is an OR;
when the event's value is a list, one element matching is enough; a field missing from the event
matches only `{"exists": false}`; `$or` takes a list of sub-patterns at any level.
"""

from __future__ import annotations

import ipaddress
import json
import operator
import re
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

Matcher = Callable[[Any], bool]
_MISSING = object()
_COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "=": operator.eq,
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


class InvalidPatternError(ValueError):
    """A pattern EventBridge would refuse."""


class EventPattern:
    """One event pattern (a JSON object or its text); InvalidPatternError when it is not valid."""

    def __init__(self, pattern: Mapping[str, Any] | str) -> None:
        if isinstance(pattern, str):
            try:
                pattern = json.loads(pattern)
            except json.JSONDecodeError as exc:
                raise InvalidPatternError(f"pattern is not JSON: {exc}") from exc
        if not isinstance(pattern, Mapping):
            raise InvalidPatternError("a pattern is a JSON object")
        self.source = pattern
        self._match = _compile_object(pattern)

    def matches(self, event: Mapping[str, Any]) -> bool:
        return self._match(event)


def matches(pattern: Mapping[str, Any] | str, event: Mapping[str, Any]) -> bool:
    """Whether `event` matches `pattern` (compiling it each time: prefer EventPattern when reused)."""
    return EventPattern(pattern).matches(event)


def _compile_object(pattern: Mapping[str, Any]) -> Matcher:
    checks: list[Matcher] = []
    for key, rule in pattern.items():
        if key == "$or":
            if not isinstance(rule, list) or len(rule) < 2:
                raise InvalidPatternError("$or takes a list of at least two patterns")
            checks.append(partial(_any_of, [_compile_object(_object(p)) for p in rule]))
        elif isinstance(rule, Mapping):
            checks.append(partial(_nested_field, key, _compile_object(rule)))
        elif isinstance(rule, list):
            if not rule:
                raise InvalidPatternError(f"{key!r}: a list of matchers cannot be empty")
            checks.append(partial(_leaf_field, key, _compile_leaf(rule)))
        else:
            raise InvalidPatternError(f"{key!r}: a pattern value is a list of matchers or an object")
    return partial(_all_of, checks)


def _all_of(checks: list[Matcher], event: Any) -> bool:
    return all(check(event) for check in checks)


def _any_of(alternatives: list[Matcher], event: Any) -> bool:
    return any(alternative(event) for alternative in alternatives)


def _nested_field(key: str, sub: Matcher, event: Any) -> bool:
    return _match_nested(_field(event, key), sub)


def _leaf_field(key: str, leaf: Matcher, event: Any) -> bool:
    return leaf(_field(event, key))


def _object(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidPatternError("$or alternatives are objects")
    return value


def _field(event: Any, key: str) -> Any:
    return event.get(key, _MISSING) if isinstance(event, Mapping) else _MISSING


def _match_nested(value: Any, sub: Callable[[Any], bool]) -> bool:
    if isinstance(value, list):
        return any(sub(item) for item in value if isinstance(item, Mapping))
    return sub(value if isinstance(value, Mapping) else {})


def _compile_leaf(rules: list[Any]) -> Matcher:
    """The OR of a list of matchers, applied to one field's value (missing, scalar or list)."""
    exists: bool | None = None
    value_matchers: list[Matcher] = []
    for rule in rules:
        if isinstance(rule, Mapping) and "exists" in rule:
            if len(rule) != 1 or not isinstance(rule["exists"], bool):
                raise InvalidPatternError('"exists" takes true or false')
            exists = rule["exists"]
        else:
            value_matchers.append(_compile_matcher(rule))

    def match(value: Any) -> bool:
        if value is _MISSING:
            return exists is False
        if exists is True:
            return True
        values = value if isinstance(value, list) else [value]
        return any(m(v) for m in value_matchers for v in values)

    return match


def _compile_matcher(rule: Any) -> Matcher:
    if rule is None or isinstance(rule, bool | str):
        return lambda value: _same(value, rule)
    if _is_number(rule):
        return lambda value: _is_number(value) and value == rule
    if not isinstance(rule, Mapping) or len(rule) != 1:
        raise InvalidPatternError(f"unknown matcher {rule!r}")
    ((kind, argument),) = rule.items()
    if kind == "prefix":
        return _affix(argument, str.startswith, kind)
    if kind == "suffix":
        return _affix(argument, str.endswith, kind)
    if kind == "equals-ignore-case":
        expected = _string(argument, kind).casefold()
        return lambda value: isinstance(value, str) and value.casefold() == expected
    if kind == "wildcard":
        regex = _wildcard(_string(argument, kind))
        return lambda value: isinstance(value, str) and regex.fullmatch(value) is not None
    if kind == "numeric":
        return _numeric(argument)
    if kind == "cidr":
        try:
            network = ipaddress.ip_network(_string(argument, kind), strict=False)
        except ValueError as exc:
            raise InvalidPatternError(f"bad cidr {argument!r}") from exc
        return lambda value: _in_network(value, network)
    if kind == "anything-but":
        return _anything_but(argument)
    raise InvalidPatternError(f"unknown matcher {kind!r}")


def _same(value: Any, expected: Any) -> bool:
    # bool is an int in Python, never in JSON: true must not equal 1
    return type(value) is type(expected) and value == expected


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _string(argument: Any, kind: str) -> str:
    if not isinstance(argument, str):
        raise InvalidPatternError(f'"{kind}" takes a string')
    return argument


def _affix(argument: Any, test: Callable[[str, str], bool], kind: str) -> Matcher:
    if isinstance(argument, Mapping) and set(argument) == {"equals-ignore-case"}:
        folded = _string(argument["equals-ignore-case"], kind).casefold()
        return lambda value: isinstance(value, str) and test(value.casefold(), folded)
    text = _string(argument, kind)
    return lambda value: isinstance(value, str) and test(value, text)


def _wildcard(text: str) -> re.Pattern[str]:
    """`*` is any run of characters; `\\*` is a star and `\\\\` a backslash."""
    parts: list[str] = []
    escaped = False
    for char in text:
        if escaped:
            parts.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            if parts and parts[-1] == ".*":
                raise InvalidPatternError(f"wildcard {text!r} has consecutive stars")
            parts.append(".*")
        else:
            parts.append(re.escape(char))
    if escaped:
        raise InvalidPatternError(f"wildcard {text!r} ends with a lone backslash")
    return re.compile("".join(parts), re.DOTALL)


def _numeric(argument: Any) -> Matcher:
    if not isinstance(argument, list) or not argument or len(argument) % 2 or len(argument) > 4:
        raise InvalidPatternError('"numeric" takes one or two [operator, number] pairs')
    bounds: list[tuple[Callable[[float, float], bool], float]] = []
    for op, number in zip(argument[::2], argument[1::2], strict=True):
        if op not in _COMPARISONS or not _is_number(number):
            raise InvalidPatternError(f"bad numeric condition {op!r} {number!r}")
        bounds.append((_COMPARISONS[op], number))
    return lambda value: _is_number(value) and all(test(value, bound) for test, bound in bounds)


def _in_network(value: Any, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    if not isinstance(value, str):
        return False
    try:
        return ipaddress.ip_address(value) in network
    except ValueError:
        return False


def _anything_but(argument: Any) -> Matcher:
    if isinstance(argument, Mapping):
        if len(argument) != 1 or next(iter(argument)) not in {
            "prefix",
            "suffix",
            "wildcard",
            "equals-ignore-case",
        }:
            raise InvalidPatternError(
                '"anything-but" takes values, or one of prefix, suffix, wildcard, equals-ignore-case'
            )
        ((kind, inner),) = argument.items()
        if kind == "equals-ignore-case" and isinstance(inner, list):
            folded = {_string(v, kind).casefold() for v in inner}
            return lambda value: isinstance(value, str) and value.casefold() not in folded
        excluded = _compile_matcher({kind: inner})
        return lambda value: isinstance(value, str) and not excluded(value)
    values = argument if isinstance(argument, list) else [argument]
    if not values or not all(isinstance(v, str) or _is_number(v) for v in values):
        raise InvalidPatternError('"anything-but" values are strings or numbers')
    excluded_values = [_compile_matcher(v) for v in values]
    return lambda value: not any(m(value) for m in excluded_values)
