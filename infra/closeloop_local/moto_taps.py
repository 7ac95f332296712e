"""Taps on moto's server: what SES accepted and what EventBridge was given, handed to the runtime.

moto's server runs in the runtime's process, so its request handlers can be wrapped. Two things
moto drops are read where the request arrives:

- SES: `SendEmail` (v2, Raw or Simple) and `SendRawEmail` / `SendEmail` (v1) lose the
  configuration set and the message tags in moto's backend. The wrapper reads them from the
  request and pairs them with the message moto stored (and the MessageId it answered).
- EventBridge: `PutEvents` reaches only the targets moto supports (an SQS queue, a log group);
  rules whose target is a Lambda function cannot even be created in moto. The wrapper lets moto
  deliver as it does, then hands every accepted entry, with the id moto gave it, to the runtime.

Several runtimes can live in one process (a test run), each with its own moto server but one
shared moto state: a tap is registered per moto server port and a request is handed only to the
runtime whose server received it (the request's Host header). A listener must be quick and must
not raise: it runs on moto's request thread, before the answer goes back (the wrappers catch and
log whatever a listener raises, so a send never fails because of a tap).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SentMail:
    """One email SES accepted, as the request gave it."""

    message_id: str
    source: str
    destinations: tuple[str, ...]
    raw: bytes | None
    configuration_set: str | None
    tags: dict[str, list[str]]
    account: str
    region: str
    subject: str = ""


@dataclass(frozen=True)
class PutEntry:
    """One entry PutEvents accepted, with the id EventBridge gave it."""

    event_id: str
    bus: str
    source: str
    detail_type: str
    detail: Any
    resources: tuple[str, ...]
    time: str | None
    account: str
    region: str


@dataclass
class Listener:
    on_sent: Callable[[SentMail], None] | None = None
    on_put: Callable[[list[PutEntry]], None] | None = None


_listeners: dict[int, Listener] = {}
_lock = threading.Lock()
_installed = False
_sent = threading.local()
_SES_SENDERS = ("send_raw_email", "send_email")


def listen(
    port: int,
    *,
    on_sent: Callable[[SentMail], None] | None = None,
    on_put: Callable[[list[PutEntry]], None] | None = None,
) -> Callable[[], None]:
    """Hand what the moto server on `port` receives to these callbacks; returns the way to stop."""
    install()
    with _lock:
        listener = _listeners.setdefault(port, Listener())
        if on_sent is not None:
            listener.on_sent = on_sent
        if on_put is not None:
            listener.on_put = on_put

    def forget() -> None:
        with _lock:
            if on_sent is not None and listener.on_sent is on_sent:
                listener.on_sent = None
            if on_put is not None and listener.on_put is on_put:
                listener.on_put = None
            if listener.on_sent is None and listener.on_put is None and _listeners.get(port) is listener:
                del _listeners[port]

    return forget


def _listener_of(handler: Any) -> Listener | None:
    host = str(handler.headers.get("Host") or "")
    port_text = host.rsplit(":", 1)[-1] if ":" in host else ""
    if not port_text.isdigit():
        return None
    with _lock:
        return _listeners.get(int(port_text))


def install() -> None:
    """Wrap moto's handlers once per process (idempotent)."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    from moto.events.responses import EventsHandler
    from moto.ses.models import SESBackend
    from moto.ses.responses import EmailResponse
    from moto.sesv2.responses import SESV2Response

    for name in _SES_SENDERS:
        setattr(SESBackend, name, _remember_message(getattr(SESBackend, name)))
    setattr(SESV2Response, "send_email", _tap_sesv2_send(SESV2Response.send_email))  # noqa: B010
    for name in _SES_SENDERS:
        setattr(EmailResponse, name, _tap_ses_v1_send(getattr(EmailResponse, name)))
    setattr(EventsHandler, "put_events", _tap_put_events(EventsHandler.put_events))  # noqa: B010


# ------------------------------------------------------------------ SES


def _remember_message(method: Callable[..., Any]) -> Callable[..., Any]:
    def remembered(self: Any, *args: Any, **kwargs: Any) -> Any:
        message = method(self, *args, **kwargs)
        _sent.message = message
        return message

    return remembered


def _tags(entries: Any) -> dict[str, list[str]]:
    tags: dict[str, list[str]] = {}
    for entry in entries or []:
        if isinstance(entry, dict) and entry.get("Name"):
            tags.setdefault(str(entry["Name"]), []).append(str(entry.get("Value", "")))
    return tags


def _hand_over(handler: Any, sent: Callable[[Any], SentMail]) -> None:
    """Give the message moto just stored to the listener of this server, if any (never raises)."""
    message = getattr(_sent, "message", None)
    _sent.message = None
    if message is None:
        return
    try:
        listener = _listener_of(handler)
        if listener is not None and listener.on_sent is not None:
            listener.on_sent(sent(message))
    except Exception:
        log.exception("an email SES accepted could not be handed to the runtime")


def _raw_of(message: Any) -> bytes | None:
    raw = getattr(message, "raw_data", None)
    return raw.encode("utf-8") if isinstance(raw, str) else None


def _tap_sesv2_send(method: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def send_email(self: Any) -> Any:
        _sent.message = None
        answer = method(self)

        def sent(message: Any) -> SentMail:
            params = json.loads(self.body or "{}")
            destination = params.get("Destination") or {}
            return SentMail(
                message_id=str(message.id),
                source=str(params.get("FromEmailAddress") or message.source),
                destinations=tuple(
                    str(address)
                    for key in ("ToAddresses", "CcAddresses", "BccAddresses")
                    for address in destination.get(key) or []
                ),
                raw=_raw_of(message),
                configuration_set=params.get("ConfigurationSetName"),
                tags=_tags(params.get("EmailTags")),
                account=str(self.current_account),
                region=str(self.region),
                subject=str(getattr(message, "subject", "") or ""),
            )

        _hand_over(self, sent)
        return answer

    return send_email


def _tap_ses_v1_send(method: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def send(self: Any) -> Any:
        _sent.message = None
        answer = method(self)

        def sent(message: Any) -> SentMail:
            destinations = self._get_param("Destinations") or message.destinations  # moto adds the To header's
            if isinstance(destinations, dict):
                destinations = [address for values in destinations.values() for address in values]
            tags = {
                str(self.querystring.get(f"Tags.member.{n}.Name", [""])[0]): [
                    str(self.querystring.get(f"Tags.member.{n}.Value", [""])[0])
                ]
                for n in range(1, 51)
                if f"Tags.member.{n}.Name" in self.querystring
            }
            return SentMail(
                message_id=str(message.id),
                source=str(message.source),
                destinations=tuple(dict.fromkeys(str(address) for address in destinations)),
                raw=_raw_of(message),
                configuration_set=self._get_param("ConfigurationSetName"),
                tags=tags,
                account=str(self.current_account),
                region=str(self.region),
                subject=str(getattr(message, "subject", "") or ""),
            )

        _hand_over(self, sent)
        return answer

    return send


# ------------------------------------------------------------------ EventBridge


def bus_name(value: str | None) -> str:
    """A bus's name from its name or ARN; no value is the default bus."""
    if not value:
        return "default"
    return value.rsplit("event-bus/", 1)[-1] if value.startswith("arn:") else value


def _tap_put_events(method: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def put_events(self: Any) -> Any:
        answer = method(self)
        try:
            listener = _listener_of(self)
            if listener is None or listener.on_put is None:
                return answer
            entries = self._get_param("Entries") or []
            results = json.loads(answer if isinstance(answer, str) else answer[0]).get("Entries") or []
            accepted = [
                _entry(self, entry, str(result["EventId"]))
                for entry, result in zip(entries, results, strict=False)
                if "EventId" in result
            ]
            if accepted:
                listener.on_put(accepted)
        except Exception:
            log.exception("events put on EventBridge could not be handed to the runtime")
        return answer

    return put_events


def _entry(handler: Any, entry: dict[str, Any], event_id: str) -> PutEntry:
    detail_text = entry.get("Detail") or "{}"
    try:
        detail = json.loads(detail_text)
    except ValueError:
        detail = {}
    time = entry.get("Time")
    if isinstance(time, int | float):
        time = datetime.fromtimestamp(time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return PutEntry(
        event_id=event_id,
        bus=bus_name(entry.get("EventBusName")),
        source=str(entry.get("Source")),
        detail_type=str(entry.get("DetailType")),
        detail=detail,
        resources=tuple(str(r) for r in entry.get("Resources") or []),
        time=str(time) if time is not None else None,
        account=str(handler.current_account),
        region=str(handler.region),
    )
