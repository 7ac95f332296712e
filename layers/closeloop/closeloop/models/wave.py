"""Waves: one survey campaign to a target, with its schedule and its counts."""

from __future__ import annotations

from pynamodb.attributes import (
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
    subject = Localised(default=Localised)
    intro = Localised(default=Localised)
    created_by = UnicodeAttribute(null=True)
    # Counts kept by the consumers of the invitations' stream (ADD, never a scan).
    targeted = NumberAttribute(default=0)
    sent = NumberAttribute(default=0)
    failed = NumberAttribute(default=0)
    uncertain = NumberAttribute(default=0)
    delivered = NumberAttribute(default=0)
    responded = NumberAttribute(default=0)
    skipped = MapAttribute[str, object](default=dict)  # reason -> count
    version = VersionAttribute()
