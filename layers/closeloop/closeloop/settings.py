"""The one typed settings object, read from the environment and validated at start."""

from __future__ import annotations

from datetime import timedelta
from functools import lru_cache
from typing import Literal

from pydantic import Field, HttpUrl
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything a function may read from its environment (template.yaml Globals)."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    stage: str = "prod"
    public_base_url: HttpUrl | None = Field(
        default=None, description="Base URL of the HTTP API, for links in emails and pages."
    )
    local: bool = Field(default=False, alias="CLOSELOOP_LOCAL")

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
    event_bus_name: str = Field(default="", description="EventBridge bus of the domain events.")

    uploads_bucket: str = Field(default="", description="Bucket of uploaded files (contact imports: imports/).")
    import_upload_seconds: int = Field(default=900, ge=60, description="How long an import's upload URL works.")

    hash_key_secret: str = ""
    token_keys_secret: str = ""

    default_language: Literal["fr", "en"] = "fr"
    timezone: str = "Europe/Paris"

    # Sending (survey emails): who they come from, where replies go, how fast SES lets us send.
    company_name: str = Field(default="Laboratoires Orvalis", description="Shown in every customer email.")
    company_logo_url: str = Field(default="", description="Logo at the top of emails; empty: the name as text.")
    sender_address: str = Field(default="enquete@demo.closeloop.example", description="From address (SES identity).")
    reply_domain: str = Field(default="reply.demo.closeloop.example", description="Domain of reply+ addresses.")
    ses_configuration_set: str = ""
    send_queue_url: str = ""
    max_send_rate: float = Field(default=14.0, gt=0, description="SES sends per second, across every sender.")
    sender_concurrency: int = Field(default=2, ge=1, description="The send queue mapping's MaximumConcurrency.")
    max_send_attempts: int = Field(default=6, ge=1, description="Refusals (not throttling) before an email fails.")
    reply_token_days: int = Field(default=365, ge=1)

    # Waves and survey pressure (R2, docs/dispatch.md "Waves and eligibility").
    survey_max_per_year: int = Field(default=2, ge=1, description="Surveys per contact in any rolling window.")
    survey_window_months: int = Field(default=12, ge=1, description="The rolling window of survey_max_per_year.")
    survey_min_gap_months: int = Field(default=3, ge=0, description="Calendar months between two surveys.")
    wave_reminder_delay: timedelta = Field(default=timedelta(days=7), description="Default: start to reminder.")
    wave_open_for: timedelta = Field(default=timedelta(days=21), description="Default: start to closing.")
    planning_page_size: int = Field(default=500, ge=1, le=2000, description="Contacts planned per checkpoint.")
    planning_queue_url: str = ""
    wave_schedule_function_arn: str = Field(default="", description="Target of the waves' one-time schedules.")
    scheduler_role_arn: str = Field(default="", description="Role the Scheduler assumes to invoke that target.")

    # Capture (F3, docs/capture.md): the survey pages, the clicks that may become responses.
    promotion_delay_minutes: int = Field(
        default=30, ge=1, description="A click never confirmed is judged this long after it."
    )
    burst_window_seconds: int = Field(default=10, ge=1, description="Clicks this close together form a burst.")
    early_click_seconds: int = Field(default=60, ge=0, description="A click this soon after delivery is suspect.")
    comment_max_chars: int = Field(default=5000, ge=1, description="The longest comment a response keeps.")

    def tables(self) -> dict[str, str]:
        """The product's tables this function was given, by setting name (empty ones left out)."""
        names = {
            name: value
            for name, value in self.model_dump().items()
            if name.endswith("_table") and isinstance(value, str)
        }
        return {name: value for name, value in names.items() if value}


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings of this process, read once (call `get_settings.cache_clear()` in tests)."""
    return Settings()
