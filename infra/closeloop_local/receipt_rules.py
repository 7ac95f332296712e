"""SES receiving, emulated: the template's receipt rules applied to mail that reaches the runtime.

Mail arrives through the SMTP listener (smtp.py) or `POST /_local/inbound`. The template's
`AWS::SES::ReceiptRuleSet` is taken as the active rule set (on AWS: `aws ses
set-active-receipt-rule-set`); its `AWS::SES::ReceiptRule`s apply in order (`After` places a rule
after another, else template order). A rule covers a recipient when its `Recipients` name the
address, its domain (`example.com`), a parent domain (`.example.com`), or when it names none.
A recipient no enabled rule covers is refused (550 over SMTP).

For each accepted message: a SES message id (unique, lower-case, as SES's), then each covering
rule's actions in order, with the recipients it covers:
- AddHeaderAction: adds the header for the actions that follow;
- S3Action: the raw message, with the headers SES adds (Return-Path, Received, X-SES-Spam-Verdict,
  X-SES-Virus-Verdict, X-SES-Receipt) at `<ObjectKeyPrefix><messageId>` in the bucket;
- LambdaAction: the function gets the SES receipt event (`Records[0].ses.mail` and `.receipt`,
  AWS's shape); InvocationType Event (the default) invokes asynchronously, retried twice on
  error as Lambda does; RequestResponse waits, and `{"disposition": "STOP_RULE_SET"}` stops the
  rule set;
- StopAction: stops the rule set;
- other actions (Bounce, SNS, WorkMail) are logged and skipped.

Verdicts are PASS, except where the message carries the local test header
`X-Closeloop-Local-Verdict: spam=FAIL, virus=FAIL` (any of spam, virus, spf, dkim, dmarc; values
PASS, FAIL, GRAY, PROCESSING_FAILED): read by the runtime and removed, never stored nor seen by a
function. A rule with ScanEnabled false gives no spam nor virus verdict.
"""

from __future__ import annotations

import email
import email.policy
import logging
import secrets
import string
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import format_datetime, getaddresses
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from closeloop_local.async_invoke import AsyncInvocations, Invoke

if TYPE_CHECKING:
    from closeloop_local.runtime import Runtime

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 10 * 1024 * 1024
VERDICT_HEADER = "X-Closeloop-Local-Verdict"
VERDICTS = ("spam", "virus", "spf", "dkim", "dmarc")
VERDICT_VALUES = frozenset({"PASS", "FAIL", "GRAY", "PROCESSING_FAILED"})
DELIVERY_THREADS = 4
_RULE_SET = "AWS::SES::ReceiptRuleSet"
_RULE = "AWS::SES::ReceiptRule"
_ID_ALPHABET = string.ascii_lowercase + string.digits


class MessageRefused(ValueError):
    """A message SES would not accept: `code` is the SMTP reply code."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


@dataclass(frozen=True)
class ReceiptRule:
    name: str
    recipients: tuple[str, ...]
    actions: tuple[Mapping[str, Any], ...]
    scan: bool = False

    def covers(self, address: str) -> bool:
        if not self.recipients:
            return True
        address = address.strip().lower()
        domain = address.rpartition("@")[2]
        for listed in self.recipients:
            entry = listed.strip().lower()
            if "@" in entry:
                if address == entry:
                    return True
            elif entry.startswith("."):
                if domain.endswith(entry):
                    return True
            elif domain == entry:
                return True
        return False


def declared_rules(runtime: Runtime) -> list[ReceiptRule]:
    """The enabled rules of the template's rule set, in the order SES applies them."""
    template = runtime.template
    rule_sets = [logical_id for logical_id, r in template.resources.items() if r.type == _RULE_SET]
    if len(rule_sets) > 1:
        raise RuntimeError(f"one receipt rule set is active at a time; the template declares {', '.join(rule_sets)}")
    active = {template.refs[rule_sets[0]], template.physical_names[rule_sets[0]]} if rule_sets else set()
    ordered: list[tuple[ReceiptRule, str | None]] = []
    for logical_id, resource in template.resources.items():
        if resource.type != _RULE:
            continue
        props = resource.properties
        if str(props.get("RuleSetName")) not in active:
            log.warning("receipt rule %s: not in the template's rule set, never applied", logical_id)
            continue
        rule = props.get("Rule") or {}
        if not _flag(rule.get("Enabled", False)):
            continue
        ordered.append(
            (
                ReceiptRule(
                    str(rule.get("Name") or logical_id),
                    tuple(str(r) for r in rule.get("Recipients") or []),
                    tuple(rule.get("Actions") or []),
                    _flag(rule.get("ScanEnabled", False)),
                ),
                props.get("After"),
            )
        )
    rules = [rule for rule, after in ordered if not after]
    waiting = [(rule, after) for rule, after in ordered if after]
    while waiting:
        placed = False
        for item in list(waiting):
            rule, after = item
            names = [r.name for r in rules]
            if after in names:
                rules.insert(names.index(after) + 1, rule)
                waiting.remove(item)
                placed = True
        if not placed:
            raise RuntimeError(f"receipt rule {waiting[0][0].name}: After names no rule of the set")
    return rules


def _flag(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def new_message_id() -> str:
    """A message id shaped as SES's inbound ones (40 lower-case letters and digits)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(40))


def read_verdicts(raw: bytes) -> tuple[dict[str, str], bytes]:
    """The verdicts the local header asks for, and the message without that header."""
    verdicts = dict.fromkeys(VERDICTS, "PASS")
    head_end = raw.find(b"\r\n\r\n")
    separator = b"\r\n"
    if head_end < 0 or (0 <= raw.find(b"\n\n") < head_end):
        head_end, separator = raw.find(b"\n\n"), b"\n"
    if head_end < 0:
        head_end = len(raw)
    head, rest = raw[:head_end], raw[head_end:]
    fields: list[list[bytes]] = []
    for line in head.split(separator):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)  # a folded header goes on
        else:
            fields.append([line])
    kept: list[bytes] = []
    for lines in fields:
        name, colon, _ = lines[0].partition(b":")
        if not (colon and name.strip().lower() == VERDICT_HEADER.lower().encode()):
            kept += lines
            continue
        value = b" ".join(lines).partition(b":")[2]
        for part in value.decode("ascii", "replace").split(","):
            key, _, verdict = part.strip().partition("=")
            key, verdict = key.strip().lower(), verdict.strip().upper()
            if key in verdicts and verdict in VERDICT_VALUES:
                verdicts[key] = verdict
    return verdicts, separator.join(kept) + rest


@dataclass
class Envelope:
    """Who sent the message (MAIL FROM) and to whom (RCPT TO)."""

    sender: str
    recipients: list[str] = field(default_factory=list)


def envelope_of(raw: bytes, to: Sequence[str] = (), sender: str | None = None) -> Envelope:
    """The envelope of a message received without SMTP: `to`, else its To and Cc addresses."""
    parsed = email.message_from_bytes(raw, policy=email.policy.compat32)
    recipients = [a for a in to if a] or [
        address for _, address in getaddresses([str(v) for v in parsed.get_all("To", []) + parsed.get_all("Cc", [])])
    ]
    from_address = getaddresses([str(parsed.get("From", ""))])
    return Envelope(sender or (from_address[0][1] if from_address else ""), [r for r in recipients if r])


def _header_list(message: Any) -> list[dict[str, str]]:
    return [{"name": name, "value": " ".join(str(value).split())} for name, value in message.items()]


def common_headers(message: Any, message_id: str) -> dict[str, Any]:
    """SES's commonHeaders of a received message."""
    common: dict[str, Any] = {}
    return_path = getaddresses([str(message.get("Return-Path", ""))])
    if return_path and return_path[0][1]:
        common["returnPath"] = return_path[0][1]
    for header, key in (("From", "from"), ("Sender", "sender"), ("Reply-To", "replyTo"), ("To", "to"), ("Cc", "cc")):
        values = message.get_all(header) or []
        if values:
            common[key] = [" ".join(str(v).split()) for v in values]
    if message.get("Date"):
        common["date"] = " ".join(str(message["Date"]).split())
    common["messageId"] = " ".join(str(message.get("Message-ID", "")).split()) or f"<{message_id}@local>"
    if message.get("Subject") is not None:
        common["subject"] = " ".join(str(message["Subject"]).split())
    return common


def _iso_ms(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


class Receiver:
    """The template's receipt rules, applied to each message received; asynchronous invocations."""

    def __init__(self, runtime: Runtime, invoke: Invoke, stopping: threading.Event) -> None:
        self.runtime = runtime
        self.invoke = invoke
        self.deliveries = AsyncInvocations(invoke, stopping, name="ses-receipt", threads=DELIVERY_THREADS)
        self.rules: list[ReceiptRule] = []

    def start(self) -> None:
        self.rules = declared_rules(self.runtime)
        by_arn = {self.runtime.arn(fid): fid for fid in self.runtime.template.functions}
        for rule in self.rules:
            for action in rule.actions:
                arn = (action.get("LambdaAction") or {}).get("FunctionArn")
                if arn is not None and str(arn).removesuffix(":$LATEST") not in by_arn:
                    raise RuntimeError(f"receipt rule {rule.name}: {arn} is not a function of the template")
        self._by_arn = by_arn
        self.deliveries.start()

    def stop(self) -> None:
        self.deliveries.stop()

    def settled(self) -> bool:
        return self.deliveries.settled()

    def covers(self, address: str) -> bool:
        """Whether SES would accept mail for `address` (an enabled rule covers it)."""
        return any(rule.covers(address) for rule in self.rules)

    def receive(self, raw: bytes, envelope: Envelope) -> str:
        """Apply the rules to one message; its SES message id. MessageRefused if SES would refuse it."""
        if len(raw) > MAX_MESSAGE_BYTES:
            raise MessageRefused(552, "message too large (10 MB at most)")
        covered = [r for r in envelope.recipients if self.covers(r)]
        if not covered:
            raise MessageRefused(550, "no receipt rule covers these recipients")
        verdicts, message = read_verdicts(raw)
        message_id = new_message_id()
        at = self.runtime.clock.now()
        for rule in self.rules:
            recipients = [r for r in covered if rule.covers(r)]
            if recipients and self._apply(
                rule,
                message_id=message_id,
                message=message,
                envelope=envelope,
                recipients=recipients,
                verdicts=verdicts,
                at=at,
            ):
                break
        return message_id

    # ------------------------------------------------------------------ one rule
    def _apply(
        self,
        rule: ReceiptRule,
        *,
        message_id: str,
        message: bytes,
        envelope: Envelope,
        recipients: list[str],
        verdicts: Mapping[str, str],
        at: datetime,
    ) -> bool:
        """Run the rule's actions; True when the rule set stops here."""
        stored = self._as_stored(
            message,
            message_id=message_id,
            envelope=envelope,
            recipients=recipients,
            verdicts=verdicts,
            rule=rule,
            at=at,
        )
        for action in rule.actions:
            if "AddHeaderAction" in action:
                added = action["AddHeaderAction"]
                stored = f"{added['HeaderName']}: {added['HeaderValue']}\r\n".encode() + stored
            elif "S3Action" in action:
                self._store(action["S3Action"], message_id, stored)
            elif "LambdaAction" in action:
                event = self._event(
                    rule,
                    message_id=message_id,
                    stored=stored,
                    envelope=envelope,
                    recipients=recipients,
                    verdicts=verdicts,
                    action=action,
                    at=at,
                )
                if self._call(rule, action["LambdaAction"], event, message_id):
                    return True
            elif "StopAction" in action:
                return True
            else:
                log.warning("receipt rule %s: %s is not emulated locally, skipped", rule.name, ", ".join(action))
        return False

    @staticmethod
    def _as_stored(
        message: bytes,
        *,
        message_id: str,
        envelope: Envelope,
        recipients: Sequence[str],
        verdicts: Mapping[str, str],
        rule: ReceiptRule,
        at: datetime,
    ) -> bytes:
        """The message as SES stores it: the headers it adds, then the message as received."""
        lines = [
            f"Return-Path: <{envelope.sender}>",
            (
                "Received: from localhost (localhost [127.0.0.1]) by inbound-smtp.local.amazonaws.com with SMTP id "
                f"{message_id} for {recipients[0]}; {format_datetime(at)}"
            ),
        ]
        if rule.scan:
            lines += [f"X-SES-Spam-Verdict: {verdicts['spam']}", f"X-SES-Virus-Verdict: {verdicts['virus']}"]
        lines.append(f"X-SES-Receipt: local; rule={rule.name}")
        return ("\r\n".join(lines) + "\r\n").encode("ascii", "replace") + message

    def _store(self, spec: Mapping[str, Any], message_id: str, stored: bytes) -> None:
        bucket, key = str(spec["BucketName"]), f"{spec.get('ObjectKeyPrefix') or ''}{message_id}"
        try:
            self.runtime.client("s3").put_object(Bucket=bucket, Key=key, Body=stored)
        except (ClientError, BotoCoreError) as exc:
            raise MessageRefused(451, f"the message could not be stored: {exc}") from exc

    def _event(
        self,
        rule: ReceiptRule,
        *,
        message_id: str,
        stored: bytes,
        envelope: Envelope,
        recipients: list[str],
        verdicts: Mapping[str, str],
        action: Mapping[str, Any],
        at: datetime,
    ) -> dict[str, Any]:
        parsed = email.message_from_bytes(stored, policy=email.policy.compat32)
        lambda_action = action["LambdaAction"]
        receipt: dict[str, Any] = {
            "timestamp": _iso_ms(at),
            "processingTimeMillis": 15,
            "recipients": recipients,
        }
        if rule.scan:
            receipt["spamVerdict"] = {"status": verdicts["spam"]}
            receipt["virusVerdict"] = {"status": verdicts["virus"]}
        receipt["spfVerdict"] = {"status": verdicts["spf"]}
        receipt["dkimVerdict"] = {"status": verdicts["dkim"]}
        receipt["dmarcVerdict"] = {"status": verdicts["dmarc"]}
        receipt["action"] = {
            "type": "Lambda",
            "functionArn": str(lambda_action["FunctionArn"]),
            "invocationType": str(lambda_action.get("InvocationType") or "Event"),
        }
        return {
            "Records": [
                {
                    "eventSource": "aws:ses",
                    "eventVersion": "1.0",
                    "ses": {
                        "mail": {
                            "timestamp": _iso_ms(at),
                            "source": envelope.sender,
                            "messageId": message_id,
                            "destination": list(envelope.recipients),
                            "headersTruncated": False,
                            "headers": _header_list(parsed),
                            "commonHeaders": common_headers(parsed, message_id),
                        },
                        "receipt": receipt,
                    },
                }
            ]
        }

    def _call(self, rule: ReceiptRule, spec: Mapping[str, Any], event: dict[str, Any], message_id: str) -> bool:
        """Invoke the function; True when it asks to stop the rule set (RequestResponse only)."""
        function_id = self._by_arn[str(spec["FunctionArn"]).removesuffix(":$LATEST")]
        if str(spec.get("InvocationType") or "Event") == "RequestResponse":
            result = self.invoke(function_id, event)
            payload = result.payload if result.ok else None
            return isinstance(payload, dict) and payload.get("disposition") == "STOP_RULE_SET"
        what = f"{rule.name}: message {message_id}"
        if not self.deliveries.submit(lambda: self.deliveries.invoke_with_retries(function_id, event, what)):
            raise MessageRefused(451, "the runtime is stopping")
        return False


def addresses(values: Iterable[str]) -> list[str]:
    """Plain addresses from `?to=` values (comma-separated or repeated)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]
