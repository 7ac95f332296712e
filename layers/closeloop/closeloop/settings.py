"""The one typed settings object, read from the environment and validated at start.

Each field is read from the variable of its name (any case; `variable=` names another), converted
to its type and checked against its bounds; any wrong value stops the function at start with
every reason at once. Plain dataclasses rather than Pydantic: the customers' survey pages import
this, and Pydantic's import alone costs them about 110 ms of cold start (docs/capture.md).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import Field, dataclass, field, fields
from datetime import timedelta
from functools import lru_cache
from typing import Any, Literal, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit


class SettingsError(ValueError):
    """Values of the environment that are not settings; every reason in the message."""


def setting(
    *,
    default: Any,
    description: str = "",
    variable: str | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    url: bool = False,
) -> Any:
    """A field of Settings with its bounds, its description, and the variable that sets it."""
    checks = {"ge": ge, "gt": gt, "le": le, "url": url, "variable": variable, "description": description}
    return field(default=default, metadata=checks)


@dataclass(frozen=True)
class Settings:
    """Everything a function may read from its environment (template.yaml Globals)."""

    stage: str = "prod"
    public_base_url: str | None = setting(
        default=None, url=True, description="Base URL of the HTTP API, for links in emails and pages."
    )
    local: bool = setting(default=False, variable="CLOSELOOP_LOCAL")

    contacts_table: str = ""
    contact_emails_table: str = ""
    staff_table: str = ""
    waves_table: str = ""
    invitations_table: str = ""
    suppressions_table: str = ""
    stats_table: str = ""
    idempotency_table: str = ""
    imports_table: str = ""
    reply_tokens_table: str = ""
    send_batches_table: str = ""
    responses_table: str = ""
    clicks_table: str = ""
    messages_table: str = ""
    quarantine_table: str = ""
    cases_table: str = ""
    attempts_table: str = ""
    taxonomy_table: str = ""
    event_bus_name: str = setting(default="", description="EventBridge bus of the domain events.")

    uploads_bucket: str = setting(default="", description="Bucket of uploaded files (contact imports: imports/).")
    import_upload_seconds: int = setting(default=900, ge=60, description="How long an import's upload URL works.")

    hash_key_secret: str = ""
    token_keys_secret: str = ""

    default_language: Literal["fr", "en"] = "fr"
    timezone: str = "Europe/Paris"

    # Sending (survey emails): who they come from, where replies go, how fast SES lets us send.
    company_name: str = setting(default="Laboratoires Orvalis", description="Shown in every customer email.")
    company_logo_url: str = setting(default="", description="Logo at the top of emails; empty: the name as text.")
    sender_address: str = setting(default="enquete@demo.closeloop.example", description="From address (SES identity).")
    reply_domain: str = setting(default="reply.demo.closeloop.example", description="Domain of reply+ addresses.")
    ses_configuration_set: str = ""
    send_queue_url: str = ""
    max_send_rate: float = setting(default=14.0, gt=0, description="SES sends per second, across every sender.")
    sender_concurrency: int = setting(default=2, ge=1, description="The send queue mapping's MaximumConcurrency.")
    max_send_attempts: int = setting(default=6, ge=1, description="Refusals (not throttling) before an email fails.")
    reply_token_days: int = setting(default=365, ge=1)

    # Waves and survey pressure (R2, docs/dispatch.md "Waves and eligibility").
    survey_max_per_year: int = setting(default=2, ge=1, description="Surveys per contact in any rolling window.")
    survey_window_months: int = setting(default=12, ge=1, description="The rolling window of survey_max_per_year.")
    survey_min_gap_months: int = setting(default=3, ge=0, description="Calendar months between two surveys.")
    wave_reminder_delay: timedelta = setting(default=timedelta(days=7), description="Default: start to reminder.")
    wave_open_for: timedelta = setting(default=timedelta(days=21), description="Default: start to closing.")
    planning_page_size: int = setting(default=500, ge=1, le=2000, description="Contacts planned per checkpoint.")
    planning_queue_url: str = ""
    wave_schedule_function_arn: str = setting(default="", description="Target of the waves' one-time schedules.")
    scheduler_role_arn: str = setting(default="", description="Role the Scheduler assumes to invoke that target.")

    # Capture (F3, docs/capture.md): the survey pages, the clicks that may become responses.
    promotion_delay_minutes: int = setting(
        default=30, ge=1, description="A click never confirmed is judged this long after it."
    )
    burst_window_seconds: int = setting(default=10, ge=1, description="Clicks this close together form a burst.")
    early_click_seconds: int = setting(default=60, ge=0, description="A click this soon after delivery is suspect.")
    comment_max_chars: int = setting(default=5000, ge=1, description="The longest comment a response keeps.")

    # Inbound mail (F6 replies, docs/inbound-mail.md): where SES stores raw mail, how long it is kept.
    inbound_bucket: str = setting(default="", description="Bucket of raw inbound mail (inbound/, quarantine/).")
    quarantine_keep_days: int = setting(
        default=30, ge=1, description="Quarantined mail is kept this long (equal to the quarantine/ lifecycle)."
    )

    # Callbacks (F4-F7, R3-R6, docs/callbacks.md): business time, SLAs, fallback, timers, mail.
    business_opens: str = setting(default="09:00", description="Business day starts (HH:MM, programme time zone).")
    business_closes: str = setting(default="18:00", description="Business day ends (HH:MM, programme time zone).")
    holidays_country: str = setting(default="FR", description="Public holidays of this country are closed.")
    closed_days: str = setting(default="", description="Extra closed dates, comma-separated YYYY-MM-DD.")
    worked_holidays: str = setting(default="", description="Public holidays worked all the same, YYYY-MM-DD list.")
    sla_detractor_business_days: int = setting(default=2, ge=1, description="Detractors are called within this.")
    sla_other_business_days: int = setting(default=10, ge=1, description="Passives and promoters, within this.")
    remind_at_share: float = setting(default=0.75, gt=0, le=1, description="Share of the SLA when the reminder fires.")
    fallback_after_failed_attempts: int = setting(
        default=2, ge=1, description="Unsuccessful call attempts before the fallback email."
    )
    mail_queue_url: str = setting(default="", description="Queue of case, staff and plan emails (the mailer's).")
    user_pool_id: str = setting(default="", description="Cognito user pool of staff sign-in (staff_sync).")
    staff_app_url: str | None = setting(
        default=None, url=True, description="Base URL of the staff pages, for links in staff emails."
    )
    staff_sign_in_url: str = setting(
        default="", description="The hosted UI of staff sign-in (its /oauth2/authorize, /oauth2/token, /logout)."
    )
    user_pool_client_id: str = setting(default="", description="The staff pages' app client (the tokens' audience).")
    staff_uploads_origin: str = setting(
        default="",
        description="The uploads bucket's origins (space-separated): the staff pages PUT import files there (CSP).",
    )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings the environment gives (variables named as the fields, in any case), the
        defaults for the others. SettingsError names every value that is wrong."""
        given = {name.lower(): value for name, value in (os.environ if environ is None else environ).items()}
        types = get_type_hints(cls)
        values: dict[str, Any] = {}
        problems: list[str] = []
        for item in fields(cls):
            variable = (item.metadata.get("variable") or item.name).lower()
            if variable not in given:
                continue
            try:
                values[item.name] = _checked(item, _converted(types[item.name], given[variable].strip()))
            except ValueError as error:
                problems.append(f"{variable.upper()}={given[variable]!r}: {error}")
        if problems:
            raise SettingsError("settings refused: " + "; ".join(problems))
        return cls(**values)

    def tables(self) -> dict[str, str]:
        """The product's tables this function was given, by setting name (empty ones left out)."""
        names = {
            name: value for name, value in vars(self).items() if name.endswith("_table") and isinstance(value, str)
        }
        return {name: value for name, value in names.items() if value}


_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}
_DURATION = re.compile(
    r"^P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$"
)


def _duration(value: str) -> timedelta:
    """ISO 8601 (`P7D`, `PT36H`, `P1W`) or a number of seconds."""
    found = _DURATION.match(value.upper())
    if found and value.upper() not in {"P", "PT"} and not value.upper().endswith("T"):
        parts = {name: float(number) for name, number in found.groupdict().items() if number}
        return timedelta(
            weeks=parts.get("w", 0),
            days=parts.get("d", 0),
            hours=parts.get("h", 0),
            minutes=parts.get("m", 0),
            seconds=parts.get("s", 0),
        )
    return timedelta(seconds=_number(value))


def _number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError("not a number") from None
    if not math.isfinite(number):
        raise ValueError("not a finite number")
    return number


def _converted(kind: Any, value: str) -> Any:
    """The string of a variable as the field's type."""
    options = [option for option in get_args(kind) if option is not type(None)]
    if get_origin(kind) is Literal:
        if value not in options:
            raise ValueError(f"one of {', '.join(map(str, options))}")
        return value
    if options:  # `X | None`: an empty variable is None
        return None if value == "" else _converted(options[0], value)
    if kind is bool:
        if value.lower() not in _TRUE | _FALSE:
            raise ValueError("true or false")
        return value.lower() in _TRUE
    if kind is int:
        if not re.fullmatch(r"[+-]?\d+", value):
            raise ValueError("not a whole number")
        return int(value)
    if kind is float:
        return _number(value)
    if kind is timedelta:
        return _duration(value)
    return value


def _checked(item: Field[Any], value: Any) -> Any:
    """The value, if it is within the field's bounds."""
    bounds = item.metadata
    measured = value.total_seconds() if isinstance(value, timedelta) else value
    if bounds.get("ge") is not None and measured < bounds["ge"]:
        raise ValueError(f"at least {bounds['ge']}")
    if bounds.get("gt") is not None and measured <= bounds["gt"]:
        raise ValueError(f"above {bounds['gt']}")
    if bounds.get("le") is not None and measured > bounds["le"]:
        raise ValueError(f"at most {bounds['le']}")
    if bounds.get("url") and value is not None:
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("an http(s) URL with a host")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once (call `get_settings.cache_clear()` in tests)."""
    return Settings.from_environment()
