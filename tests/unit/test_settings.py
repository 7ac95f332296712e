"""Settings read from the environment as the template sets it: names in any case, strings
converted and checked, defaults for the rest, a wrong value refused at start."""

from __future__ import annotations

from dataclasses import FrozenInstanceError
from datetime import timedelta

import pytest

from closeloop.settings import Settings, SettingsError


def test_variables_named_as_the_fields_in_any_case_are_converted() -> None:
    settings = Settings.from_environment(
        {
            "CONTACTS_TABLE": "closeloop-prod-contacts",
            "max_send_rate": "14.5",
            "Sender_Concurrency": "2",
            "CLOSELOOP_LOCAL": "1",
            "WAVE_REMINDER_DELAY": "P3D",
            "WAVE_OPEN_FOR": "PT504H",
            "PUBLIC_BASE_URL": "https://survey.example.com/",
            "DEFAULT_LANGUAGE": "en",
            "PATH": "/usr/bin",  # not a setting: ignored
        }
    )

    assert settings.contacts_table == "closeloop-prod-contacts"
    assert (settings.max_send_rate, settings.sender_concurrency, settings.local) == (14.5, 2, True)
    assert (settings.wave_reminder_delay, settings.wave_open_for) == (timedelta(days=3), timedelta(days=21))
    assert str(settings.public_base_url) == "https://survey.example.com/"
    assert settings.default_language == "en"
    assert settings.tables() == {"contacts_table": "closeloop-prod-contacts"}


def test_what_the_environment_does_not_give_keeps_its_default() -> None:
    settings = Settings.from_environment({})

    assert (settings.stage, settings.local, settings.comment_max_chars) == ("prod", False, 5000)
    assert settings.wave_reminder_delay == timedelta(days=7)


@pytest.mark.parametrize(
    ("name", "value", "reason"),
    [
        ("MAX_SEND_RATE", "0", "above 0"),
        ("MAX_SEND_RATE", "nan", "not a finite number"),
        ("SENDER_CONCURRENCY", "two", "not a whole number"),
        ("PLANNING_PAGE_SIZE", "5000", "at most 2000"),
        ("DEFAULT_LANGUAGE", "de", "one of fr, en"),
        ("PUBLIC_BASE_URL", "nope", "an http(s) URL with a host"),
        ("CLOSELOOP_LOCAL", "maybe", "true or false"),
        ("WAVE_OPEN_FOR", "three weeks", "not a number"),
    ],
)
def test_a_wrong_value_stops_the_function_at_start_with_its_reason(name: str, value: str, reason: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environment({name: value})

    assert str(raised.value) == f"settings refused: {name}={value!r}: {reason}"


def test_every_wrong_value_is_named_at_once() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environment({"MAX_SEND_RATE": "-1", "COMMENT_MAX_CHARS": "0", "STAGE": "dev"})

    assert "MAX_SEND_RATE='-1'" in str(raised.value)
    assert "COMMENT_MAX_CHARS='0': at least 1" in str(raised.value)


def test_durations_read_as_iso_8601_or_seconds_and_an_empty_url_is_none() -> None:
    settings = Settings.from_environment(
        {"WAVE_REMINDER_DELAY": "P1W", "WAVE_OPEN_FOR": "PT1H30M", "PUBLIC_BASE_URL": ""}
    )
    assert (settings.wave_reminder_delay, settings.wave_open_for) == (timedelta(weeks=1), timedelta(minutes=90))
    assert settings.public_base_url is None
    assert Settings.from_environment({"WAVE_OPEN_FOR": "86400"}).wave_open_for == timedelta(days=1)


def test_settings_cannot_be_changed_once_read() -> None:
    settings = Settings.from_environment({})

    with pytest.raises(FrozenInstanceError):
        settings.stage = "dev"  # type: ignore[misc]
