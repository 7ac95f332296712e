"""What every PynamoDB model of closeloop shares: table names from settings, timestamps, reset."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.attributes import UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.models import Model

from closeloop import clock
from closeloop.settings import get_settings

_MODELS: list[type[Model]] = []


class TableName:
    """A Meta.table_name read from settings when first needed, so importing a model needs no env."""

    def __init__(self, setting: str) -> None:
        self.setting = setting

    def __get__(self, instance: object, owner: type | None = None) -> str:
        name = getattr(get_settings(), self.setting)
        if not name:
            raise RuntimeError(f"{self.setting.upper()} is not set for this function")
        return str(name)


def current_correlation_id() -> str | None:
    # Imported here: observability imports Powertools, which the models must not pull in eagerly.
    from closeloop.observability import correlation_id

    return correlation_id()


def now() -> datetime:
    return clock.now()


class BaseModel(Model):
    """A closeloop item: it remembers when it was written and the request that wrote it."""

    created_at = UTCDateTimeAttribute(default_for_new=now)
    updated_at = UTCDateTimeAttribute(default=now)
    correlation_id = UnicodeAttribute(null=True, default=current_correlation_id)  # type: ignore[arg-type]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _MODELS.append(cls)


def registered_models() -> list[type[Model]]:
    """Every model class defined so far."""
    return list(_MODELS)


def reset_connections() -> None:
    """Drop cached connections (tests that switch endpoints, credentials or table names)."""
    for model in _MODELS:
        model._connection = None
