"""Waves as managers run them: create, list, show, edit, cancel; preview and test-send their email."""

from __future__ import annotations

import contextlib
import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pynamodb.exceptions import UpdateError

from closeloop import clock
from closeloop.errors import Conflict, InvalidInput, NotFound, Unavailable
from closeloop.identity import Identity
from closeloop.ids import new_id
from closeloop.models import Contact, Staff, Wave, invitation_id_for
from closeloop.models.wave import Localised, Target
from closeloop.observability import logger
from closeloop.rules.waves import (
    LANGUAGES,
    STEPS,
    check_target,
    check_texts,
    default_intros,
    default_subjects,
    plan_times,
)
from closeloop.services import planning
from closeloop.services.wave_schedules import ScheduleTarget, create_wave_schedules, delete_wave_schedules
from closeloop.settings import get_settings

EDITABLE_STATUSES = ("planned",)
CANCELLABLE_STATUSES = ("planned", "sending")


# ------------------------------------------------------------------ what a manager sees


def wave_view(wave: Wave) -> dict[str, Any]:
    """A wave as the API shows it: its plan, its texts, its state and its counts."""
    return {
        "wave_id": wave.wave_id,
        "name": wave.name,
        "status": wave.status,
        "target": {
            "segments": [str(s) for s in wave.target.segments or []],
            "languages": [str(s) for s in wave.target.languages or []],
            "everyone": not (wave.target.segments or wave.target.languages),
        },
        "starts_at": _iso(wave.starts_at),
        "reminder_at": _iso(wave.reminder_at),
        "closes_at": _iso(wave.closes_at),
        "month": wave.month,
        "subjects": {language: getattr(wave.subjects, language, None) for language in LANGUAGES},
        "intros": {language: getattr(wave.intros, language, None) for language in LANGUAGES},
        "created_by": wave.created_by,
        "created_at": _iso(wave.created_at),
        "started_at": _iso(wave.started_at),
        "cancelled_at": _iso(wave.cancelled_at),
        "closed_at": _iso(wave.closed_at),
        "version": wave.version,
        "planning": {
            "done": bool(wave.planning_done),
            "reminder_done": bool(wave.reminder_done),
        },
        "counts": {
            "targeted": int(wave.targeted or 0),
            "skipped": {
                "suppressed": int(wave.skipped_suppressed or 0),
                "pressure_gap": int(wave.skipped_pressure_gap or 0),
                "pressure_max": int(wave.skipped_pressure_max or 0),
            },
            "reserved": int(wave.reserved or 0),
            "sent": int(wave.sent or 0),
            "failed": int(wave.failed or 0),
            "uncertain": int(wave.uncertain or 0),
            "send_skipped": int(wave.send_skipped or 0),
            "delivered": int(wave.delivered or 0),
            "bounced": int(wave.bounced or 0),
            "complained": int(wave.complained or 0),
            "unsubscribed": int(wave.unsubscribed or 0),
            "reminded": int(wave.reminded or 0),
            "responded": int(wave.responded or 0),
            "released": int(wave.released or 0),
            "test_sends": int(wave.test_sends or 0),
        },
    }


def as_of() -> str:
    """The domain's now, as the answers that carry counts or times give it (`as_of`)."""
    return _iso(clock.now()) or ""


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value is not None else None


def month_of(at: datetime) -> str:
    """The survey month of a wave: its start's month in the programme's time zone."""
    return at.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m")


# ------------------------------------------------------------------ create, list, show, edit


def create_wave(
    *,
    name: str,
    segments: list[str],
    languages: list[str],
    everyone: bool,
    starts_at: datetime | None = None,
    reminder_delay: timedelta | None = None,
    closes_at: datetime | None = None,
    subjects: dict[str, str] | None = None,
    intros: dict[str, str] | None = None,
    created_by: str | None = None,
    schedule_target: ScheduleTarget | None = None,
) -> Wave:
    """A planned wave and its three one-time schedules (start, reminder, closing).

    InvalidInput, with the reason, for a start in the past (beyond a minute of clock skew), a
    closing before the start, a reminder after the closing, a segment no contact is in, an unknown
    language or a text that is empty or too long.
    """
    settings = get_settings()
    now = clock.now()
    times = plan_times(
        now=now,
        starts_at=starts_at,
        reminder_delay=reminder_delay if reminder_delay is not None else settings.wave_reminder_delay,
        closes_at=closes_at,
        open_for=settings.wave_open_for,
    )
    chosen_segments, chosen_languages = check_target(segments, languages, everyone=everyone)
    subjects = {key: value for key, value in (subjects or {}).items() if value is not None}
    intros = {key: value for key, value in (intros or {}).items() if value is not None}
    check_texts(name, subjects, intros)
    unknown = [segment for segment in chosen_segments if not segment_exists(segment)]
    if unknown:
        raise InvalidInput(
            f"unknown segment: {', '.join(unknown)} (no contact is in it)",
            details={"field": "target.segments", "unknown": unknown},
        )
    texts = {
        "subjects": {**default_subjects(settings.company_name), **subjects},
        "intros": {**default_intros(), **intros},
    }
    wave = Wave(
        new_id(),
        name=name.strip(),
        status="planned",
        target=Target(segments=chosen_segments, languages=chosen_languages),
        starts_at=times.starts_at,
        reminder_at=times.reminder_at,
        closes_at=times.closes_at,
        month=month_of(times.starts_at),
        subjects=Localised(**texts["subjects"]),
        intros=Localised(**texts["intros"]),
        created_by=created_by,
    )
    wave.save(condition=Wave.wave_id.does_not_exist())
    try:
        create_wave_schedules(
            wave.wave_id,
            {"start": times.starts_at, "reminder": times.reminder_at, "close": times.closes_at},
            now=now,
            target=schedule_target,
        )
    except Exception:
        # Without its schedules the wave would never start: take it back whole, the caller retries.
        with contextlib.suppress(Unavailable):
            delete_wave_schedules(wave.wave_id)
        wave.delete()
        raise
    logger.info("wave created", extra={"wave_id": wave.wave_id, "segments": len(chosen_segments)})
    return wave


def segment_exists(segment: str) -> bool:
    """Whether any contact is in this segment (one Query on by_segment, one key)."""
    return any(True for _ in Contact.by_segment.query(segment, limit=1))


def list_waves() -> list[Wave]:
    """Every wave, the latest start first (a Scan of a table of a few dozen items a year)."""
    return sorted(Wave.scan(), key=lambda wave: wave.starts_at, reverse=True)


def get_wave(wave_id: str) -> Wave:
    try:
        return Wave.get(wave_id, consistent_read=True)
    except Wave.DoesNotExist:
        raise NotFound("no such wave") from None


def edit_wave(
    wave_id: str,
    *,
    version: int,
    name: str | None = None,
    subjects: dict[str, str] | None = None,
    intros: dict[str, str] | None = None,
    starts_at: datetime | None = None,
    reminder_delay: timedelta | None = None,
    closes_at: datetime | None = None,
    schedule_target: ScheduleTarget | None = None,
) -> Wave:
    """Change the name, the texts or the plan of a planned wave; 409 if someone changed it first or
    it started. A new start, reminder delay or closing moves the wave's three schedules; what is not
    given keeps its value (the reminder keeps its delay after the start)."""
    subjects = {key: value for key, value in (subjects or {}).items() if value is not None}
    intros = {key: value for key, value in (intros or {}).items() if value is not None}
    check_texts(name, subjects, intros)
    wave = get_wave(wave_id)
    if wave.status not in EDITABLE_STATUSES:
        raise Conflict(f"the wave is {wave.status}: only a planned wave can be edited")
    now = clock.now()
    actions: list[Any] = [Wave.updated_at.set(now)]
    times = None
    if starts_at is not None or reminder_delay is not None or closes_at is not None:
        times = plan_times(
            now=now,
            starts_at=starts_at if starts_at is not None else wave.starts_at,
            reminder_delay=reminder_delay if reminder_delay is not None else wave.reminder_at - wave.starts_at,
            closes_at=closes_at if closes_at is not None else wave.closes_at,
            open_for=get_settings().wave_open_for,
        )
        actions += [
            Wave.starts_at.set(times.starts_at),
            Wave.reminder_at.set(times.reminder_at),
            Wave.closes_at.set(times.closes_at),
            Wave.month.set(month_of(times.starts_at)),
        ]
    if name is not None:
        actions.append(Wave.name.set(name.strip()))
    if subjects:
        merged = {language: getattr(wave.subjects, language, None) for language in LANGUAGES} | subjects
        actions.append(Wave.subjects.set(Localised(**merged)))
    if intros:
        merged = {language: getattr(wave.intros, language, None) for language in LANGUAGES} | intros
        actions.append(Wave.intros.set(Localised(**merged)))
    wave.version = version
    try:
        wave.update(actions=actions, condition=Wave.status.is_in(*EDITABLE_STATUSES))
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise
        current = get_wave(wave_id)
        if current.status not in EDITABLE_STATUSES:
            raise Conflict(f"the wave is {current.status}: only a planned wave can be edited") from None
        raise Conflict("the wave was changed by someone else: reload it and edit again") from None
    if times is not None:
        # The wave holds its new times: its schedules follow, the old ones deleted first (an old
        # start firing in the instant between would start the wave early, never twice).
        delete_wave_schedules(wave_id, STEPS)
        create_wave_schedules(
            wave_id,
            {"start": times.starts_at, "reminder": times.reminder_at, "close": times.closes_at},
            now=now,
            target=schedule_target,
        )
        logger.info("wave rescheduled", extra={"wave_id": wave_id})
    return wave


# ------------------------------------------------------------------ cancel


def cancel_wave(wave_id: str) -> Wave:
    """Cancel a planned or sending wave: its schedules are deleted, nothing more is planned and,
    for a wave already sending, the survey claims of invitations not sent are given back (the
    planner does it, after whatever page it is on). Cancelling a cancelled wave changes nothing."""
    wave = get_wave(wave_id)
    if wave.status not in (*CANCELLABLE_STATUSES, "cancelled"):
        raise Conflict(f"the wave is {wave.status}: only a planned or sending wave can be cancelled")
    if wave.status != "cancelled":
        was_sending = wave.status == "sending"
        try:
            wave.update(
                actions=[
                    Wave.status.set("cancelled"),
                    Wave.cancelled_at.set(clock.now()),
                    Wave.release_done.set(not was_sending),
                    Wave.updated_at.set(clock.now()),
                ],
                condition=Wave.status == wave.status,
                add_version_condition=False,
            )
        except UpdateError as error:
            if error.cause_response_code != "ConditionalCheckFailedException":
                raise
            return cancel_wave(wave_id)  # it moved on meanwhile (planned -> sending): decide again
        logger.info("wave cancelled", extra={"wave_id": wave_id, "was_sending": was_sending})
    delete_wave_schedules(wave_id, STEPS)
    if not wave.release_done:
        planning.hand_over(wave_id, "release")
    return wave


# ------------------------------------------------------------------ the email: preview, test send


def _contact(contact_id: str) -> Contact:
    try:
        return Contact.get(contact_id)
    except Contact.DoesNotExist:
        raise NotFound("no such contact") from None


def _sample_contact(staff: Staff, language: str) -> Contact:
    """A contact made from a staff member, for a test email or a preview that names no contact."""
    first_name = staff.name.split(" ")[0] if staff.name else None
    return Contact(f"test-{staff.staff_id}", email=staff.email, first_name=first_name, language=language)


def preview_wave(wave_id: str, contact_id: str | None, *, by: Identity | None = None) -> dict[str, Any]:
    """The wave's email to this contact, rendered in French and in English (nothing is stored).
    Without a contact, the email is rendered for a sample contact made from the person asking."""
    from closeloop.mail.survey import RenderError, render_survey_email

    wave = get_wave(wave_id)
    if contact_id:
        contact = _contact(contact_id)
        invitation_id = invitation_id_for(wave_id, contact_id)
    else:
        staff = Staff.find_by_email(by.email) if by is not None and by.email else None
        if staff is None:
            raise InvalidInput("name a contact to preview the email for", details={"field": "contact_id"})
        contact = _sample_contact(staff, staff.language or get_settings().default_language)
        invitation_id = invitation_id_for(wave_id, f"test#{staff.staff_id}")
    rendered: dict[str, Any] = {}
    for language in LANGUAGES:
        try:
            email = render_survey_email(
                wave=wave, contact=contact, invitation_id=invitation_id, step="first", language=language
            )
        except RenderError as error:
            raise InvalidInput(f"the email cannot be made for this contact: {error}") from None
        rendered[language] = {
            "subject": email.subject,
            "to": email.to,
            "from": email.sender,
            "headers": email.headers,
            "text": email.text,
            "html": email.html,
        }
    return {"wave_id": wave_id, "contact_id": contact_id, "invitation_id": invitation_id, "emails": rendered}


def send_test_email(
    wave_id: str, *, to: str, language: str, contact_id: str | None = None, by: Identity | None = None
) -> dict[str, Any]:
    """Send the wave's email, marked as a test, to a staff address of the directory (never a
    customer). It is no survey: no invitation, no claim, its links lead nowhere."""
    from closeloop.mail.outbound import SendOutcomeUnknown, SendRefused, send_raw
    from closeloop.mail.survey import RenderError, render_survey_email, to_mime

    if language not in LANGUAGES:
        raise InvalidInput(f"language must be one of: {', '.join(LANGUAGES)}")
    address = to.strip().lower()
    staff = Staff.find_by_email(address) if address else None
    if staff is None or not staff.active:
        raise InvalidInput("test emails go to a staff address of the directory only")
    wave = get_wave(wave_id)
    contact = _contact(contact_id) if contact_id else _sample_contact(staff, language)
    invitation_id = invitation_id_for(wave_id, f"test#{staff.staff_id}")
    try:
        email = render_survey_email(
            wave=wave, contact=contact, invitation_id=invitation_id, step="first", language=language, test=True
        )
        email = dataclasses.replace(email, to=staff.email)
        raw = to_mime(email)
    except RenderError as error:
        raise InvalidInput(f"the email cannot be made: {error}") from None
    try:
        message_id = send_raw(raw, to=staff.email)
    except (SendRefused, SendOutcomeUnknown) as error:
        logger.warning("test email not sent", extra={"wave_id": wave_id, "code": str(error)})
        raise Unavailable("the email service did not take the test email: try again") from None
    wave.update(actions=[Wave.test_sends.add(1)], add_version_condition=False)
    logger.info("test email sent", extra={"wave_id": wave_id, "staff_id": staff.staff_id, "by": by and by.subject})
    return {"wave_id": wave_id, "sent_to": staff.email, "language": language, "subject": email.subject,
            "message_id": message_id}  # fmt: skip
