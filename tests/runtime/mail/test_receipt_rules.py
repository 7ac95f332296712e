"""The receipt rules' own logic: which recipients a rule covers, their order, the local verdict header."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from closeloop_local.receipt_rules import ReceiptRule, declared_rules, read_verdicts
from closeloop_local.template import Resource


def test_a_rule_covers_its_addresses_its_domain_and_subdomains_when_asked() -> None:
    rule = ReceiptRule("r", ("help@example.test", "reply.example.test", ".clients.test"), ())

    assert rule.covers("HELP@Example.test")
    assert rule.covers("reply+abc@REPLY.example.test")
    assert rule.covers("a@eu.clients.test")
    assert not rule.covers("other@example.test")
    assert not rule.covers("a@sub.reply.example.test")
    assert not rule.covers("a@clients.test")
    assert ReceiptRule("all", (), ()).covers("anyone@anywhere.test")


def test_the_local_verdict_header_is_read_and_removed_folded_or_not() -> None:
    raw = (
        b"From: a@b.test\nX-Closeloop-Local-Verdict: spam=FAIL,\n virus=gray, bogus=FAIL\nSubject: s\n"
        b"\nX-Closeloop-Local-Verdict: body\n"
    )

    verdicts, kept = read_verdicts(raw)

    assert verdicts == {"spam": "FAIL", "virus": "GRAY", "spf": "PASS", "dkim": "PASS", "dmarc": "PASS"}
    assert kept == b"From: a@b.test\nSubject: s\n\nX-Closeloop-Local-Verdict: body\n"


def test_a_message_without_the_header_passes_every_verdict_and_is_kept_as_is() -> None:
    raw = b"From: a@b.test\r\nSubject: s\r\n\r\nbody\r\n"

    assert read_verdicts(raw) == (dict.fromkeys(("spam", "virus", "spf", "dkim", "dmarc"), "PASS"), raw)


def _rule(name: str, *, after: str | None = None, enabled: bool = True, rule_set: str = "set") -> Resource:
    props: dict[str, Any] = {"RuleSetName": rule_set, "Rule": {"Name": name, "Enabled": enabled, "Actions": []}}
    if after:
        props["After"] = after
    return Resource(name, "AWS::SES::ReceiptRule", props, {})


def _runtime(*rules: Resource) -> Any:
    resources = {"Set": Resource("Set", "AWS::SES::ReceiptRuleSet", {"RuleSetName": "set"}, {})}
    resources |= {rule.logical_id: rule for rule in rules}
    return SimpleNamespace(
        template=SimpleNamespace(resources=resources, refs={"Set": "set"}, physical_names={"Set": "set"})
    )


def test_rules_apply_in_order_after_the_rule_they_name_and_disabled_or_foreign_ones_never() -> None:
    runtime = _runtime(
        _rule("third", after="second"),
        _rule("first"),
        _rule("second", after="first"),
        _rule("off", enabled=False),
        _rule("elsewhere", rule_set="another"),
    )

    assert [rule.name for rule in declared_rules(runtime)] == ["first", "second", "third"]


def test_a_rule_after_an_unknown_rule_stops_the_start() -> None:
    with pytest.raises(RuntimeError, match="After names no rule"):
        declared_rules(_runtime(_rule("lost", after="nowhere")))
