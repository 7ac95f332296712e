"""Sending one raw email through SES v2, and telling a refusal from an unknown outcome.

SES has no idempotency key. So a send is made once (the client does not retry it, closeloop.aws),
and what went wrong decides what may happen next: a call SES refused (throttling, a rejection, a
paused account, no connection at all) sent nothing and may be tried again later; a call whose
answer never came (a read timeout, a dropped connection, an internal error) may have sent the
email, and must never be repeated.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ProxyConnectionError,
)

from closeloop import aws
from closeloop.settings import get_settings

THROTTLING_CODES = frozenset(
    {"TooManyRequestsException", "ThrottlingException", "Throttling", "LimitExceededException"}
)
"""SES answered "slow down": nothing was sent."""

REFUSAL_CODES = frozenset(
    {
        "MessageRejected",
        "SendingPausedException",
        "AccountSuspendedException",
        "MailFromDomainNotVerifiedException",
        "BadRequestException",
        "NotFoundException",
    }
)
"""SES looked at the request and did not send it (any other 4xx answer means the same)."""


class SendRefused(Exception):
    """SES refused the email, so it was not sent; it may be tried again later."""

    def __init__(self, code: str, *, throttled: bool) -> None:
        super().__init__(code)
        self.code = code
        self.throttled = throttled


class SendOutcomeUnknown(Exception):
    """No answer from SES: the email may or may not have gone. It must not be sent again."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def classify(error: BaseException) -> SendRefused | SendOutcomeUnknown:
    """What a failed SES call means for the email."""
    if isinstance(error, ClientError):
        code = str(error.response.get("Error", {}).get("Code", "ClientError"))
        status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        if code in THROTTLING_CODES or status == 429:
            return SendRefused(code, throttled=True)
        if code in REFUSAL_CODES or 400 <= status < 500:
            return SendRefused(code, throttled=False)
        return SendOutcomeUnknown(code)
    if isinstance(error, EndpointConnectionError | ConnectTimeoutError | ProxyConnectionError):
        return SendRefused(type(error).__name__, throttled=False)  # never connected: nothing sent
    if isinstance(error, BotoCoreError):
        return SendOutcomeUnknown(type(error).__name__)  # read timeout, connection closed, ...
    return SendOutcomeUnknown(type(error).__name__)


def send_raw(raw: bytes, *, to: str, sender: str | None = None) -> str:
    """Send one MIME message to one address with the configuration set; the SES message id.

    Raises SendRefused (nothing sent) or SendOutcomeUnknown (maybe sent).
    """
    settings = get_settings()
    request: dict[str, Any] = {
        "FromEmailAddress": sender or settings.sender_address,
        "Destination": {"ToAddresses": [to]},
        "Content": {"Raw": {"Data": raw}},
    }
    if settings.ses_configuration_set:
        request["ConfigurationSetName"] = settings.ses_configuration_set
    try:
        answer = aws.client("sesv2").send_email(**request)
    except (ClientError, BotoCoreError) as error:
        raise classify(error) from error
    return str(answer["MessageId"])
