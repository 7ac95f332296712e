"""Waves: one survey campaign to a target, with its schedule and its counts."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)

from closeloop.models.base import BaseModel, TableName

WAVE_STATUSES = ("planned", "sending", "sent", "closed", "cancelled")


class Target(MapAttribute[str, object]):
    """Who a wave goes to: segments and languages (empty lists: everyone)."""

    segments = ListAttribute(of=UnicodeAttribute, default=list)
    languages = ListAttribute(of=UnicodeAttribute, default=list)


class Localised(MapAttribute[str, object]):
    """A text a manager writes in both languages."""

    fr = UnicodeAttribute(null=True)
    en = UnicodeAttribute(null=True)


class Wave(BaseModel):
    class Meta:
        table_name = TableName("waves_table")

    wave_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    status = UnicodeAttribute(default="planned")
    target = Target(default=Target)
    starts_at = UTCDateTimeAttribute()
    reminder_at = UTCDateTimeAttribute(null=True)
    closes_at = UTCDateTimeAttribute()
    month = UnicodeAttribute(null=True)  # YYYY-MM of starts_at: the survey month of the wave
    subjects = Localised(default=Localised)
    intros = Localised(default=Localised)
    created_by = UnicodeAttribute(null=True)  # staff_id
    version = VersionAttribute()
    started_at = UTCDateTimeAttribute(null=True)
    cancelled_at = UTCDateTimeAttribute(null=True)
    closed_at = UTCDateTimeAttribute(null=True)
    # Planning (closeloop.services.planning): one planner at a time holds the lease; each step pages
    # through its targets, writing the page it works on before any claim (`*_pending`, the ids, and
    # `*_next`, the cursor after it) and the cursor after it once the page is done, with its counts.
    planner = UnicodeAttribute(null=True)
    planner_until = UTCDateTimeAttribute(null=True)
    planning_cursor = UnicodeAttribute(null=True)
    planning_pending = ListAttribute(of=UnicodeAttribute, null=True)
    planning_next = UnicodeAttribute(null=True)
    planning_done = BooleanAttribute(default=False)
    reminder_cursor = UnicodeAttribute(null=True)
    reminder_pending = ListAttribute(of=UnicodeAttribute, null=True)
    reminder_next = UnicodeAttribute(null=True)
    reminder_done = BooleanAttribute(default=False)
    release_cursor = UnicodeAttribute(null=True)
    release_done = BooleanAttribute(default=False)
    # Counts, only ever changed with ADD, never by a scan: the planning counts (targeted, skipped_*,
    # reserved, reminded, evaluated, released) by the planner's page checkpoints, exactly once per
    # page; the send outcomes by dispatch_ledger; the responses by their consumer (data-model 9.2).
    targeted = NumberAttribute(default=0)
    skipped_suppressed = NumberAttribute(default=0)
    skipped_pressure_gap = NumberAttribute(default=0)
    skipped_pressure_max = NumberAttribute(default=0)
    reserved = NumberAttribute(default=0)
    finished = NumberAttribute(default=0)
    sent = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    uncertain = NumberAttribute(default=0)
    send_skipped = NumberAttribute(default=0)
    delivered = NumberAttribute(default=0)
    bounced = NumberAttribute(default=0)
    complained = NumberAttribute(default=0)
    unsubscribed = NumberAttribute(default=0)
    reminded = NumberAttribute(default=0)
    responded = NumberAttribute(default=0)
    responded_confirmed = NumberAttribute(default=0)
    evaluated = NumberAttribute(default=0)  # contacts planned (reserved or skipped), counted once per page
    released = NumberAttribute(default=0)  # survey claims given back (cancelled before their email left)
    test_sends = NumberAttribute(default=0)


WAVE_COUNTS = tuple(name for name, attribute in Wave.get_attributes().items() if type(attribute) is NumberAttribute)
