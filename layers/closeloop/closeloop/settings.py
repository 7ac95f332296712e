"""The one typed settings object, read from the environment and validated at start."""

from __future__ import annotations

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

    hash_key_secret: str = ""
    token_keys_secret: str = ""

    default_language: Literal["fr", "en"] = "fr"
    timezone: str = "Europe/Paris"

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
