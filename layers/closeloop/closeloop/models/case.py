"""Cases (the callback of one response), their Attempts (append-only, one per call) and the irritant
Taxonomy, docs/data-model.md 4.15, 4.16 and 4.19."""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection

from closeloop.models.base import BaseModel, TableName

CASE_STATUSES = ("open", "awaiting_second", "closed")
OUTCOMES = ("reached", "no_answer", "voicemail", "wrong_number", "declined")
FAILED_OUTCOMES = frozenset({"no_answer", "voicemail", "wrong_number"})
EXCHANGE_OUTCOMES = frozenset({"reached", "declined"})
PROMISES = ("none", "solution_now", "improvement_loop")
ASSIGNMENTS = ("owner", "load", "manual", "handback")
CLOSE_REASONS = ("loop_closed", "unreachable", "erased", "manual")
TIMER_SHARDS = 10
TAGS_MAX = 5


class ByAssignee(GlobalSecondaryIndex["Case"]):
    """A caller's queue: their cases not closed, overdue first then by due date (sparse:
    `queue_due_at` is removed at close)."""

    class Meta:
        index_name = "by_assignee"
        projection = AllProjection()

    assignee_id = UnicodeAttribute(hash_key=True)
    queue_due_at = UTCDateTimeAttribute(range_key=True)


class ByStatus(GlobalSecondaryIndex["Case"]):
    """Managers' lists: cases of a status by due date (overdue: `open` and `due_at < now`)."""

    class Meta:
        index_name = "by_status"
        projection = AllProjection()

    status = UnicodeAttribute(hash_key=True)
    due_at = UTCDateTimeAttribute(range_key=True)


class ByTimer(GlobalSecondaryIndex["Case"]):
    """Cases with an SLA step pending (sparse: both keys present only while a step waits)."""

    class Meta:
        index_name = "by_timer"
        projection = IncludeProjection(["next_timer_step", "due_at"])

    timer_shard = UnicodeAttribute(hash_key=True)
    next_timer_at = UTCDateTimeAttribute(range_key=True)


class Case(BaseModel):
    """The callback of one response: case_id = response_id = invitation_id. It holds no customer
    personal data; names, phone and comment are read from Contacts and Responses."""

    class Meta:
        table_name = TableName("cases_table")

    case_id = UnicodeAttribute(hash_key=True)
    contact_id = UnicodeAttribute()
    wave_id = UnicodeAttribute()
    segment = UnicodeAttribute(null=True)
    language = UnicodeAttribute(default="fr")
    month = UnicodeAttribute(null=True)
    score = NumberAttribute()
    category = UnicodeAttribute()  # detractor, passive, promoter: mirror of the response
    confirmed = BooleanAttribute(default=True)  # False: the caller confirms the score on the phone
    responded_at = UTCDateTimeAttribute()  # origin of every delay
    opened_at = UTCDateTimeAttribute()
    due_at = UTCDateTimeAttribute()
    script = UnicodeAttribute()  # "<category>.<language>": templates/scripts/<category>.<language>.md
    assignee_id = UnicodeAttribute(null=True)
    assigned_at = UTCDateTimeAttribute(null=True)
    assignment = UnicodeAttribute(null=True)  # one of ASSIGNMENTS
    queue_due_at = UTCDateTimeAttribute(null=True)  # = due_at while not closed (by_assignee)
    status = UnicodeAttribute(default="open")  # one of CASE_STATUSES
    close_reason = UnicodeAttribute(null=True)
    attempt_count = NumberAttribute(default=0)
    failed_attempt_count = NumberAttribute(default=0)
    last_attempt_at = UTCDateTimeAttribute(null=True)
    has_phone = BooleanAttribute(default=True)
    fallback_at = UTCDateTimeAttribute(null=True)  # the fallback email was claimed (once per case)
    first_exchange_at = UTCDateTimeAttribute(null=True)
    first_exchange_kind = UnicodeAttribute(null=True)  # call, reply
    first_delay_h = NumberAttribute(null=True)
    first_delay_bh = NumberAttribute(null=True)
    promise = UnicodeAttribute(null=True)  # one of PROMISES
    wants_follow_up = BooleanAttribute(null=True)
    second_exchange_at = UTCDateTimeAttribute(null=True)
    second_exchange_kind = UnicodeAttribute(null=True)  # call, email, close_loop
    second_delay_h = NumberAttribute(null=True)
    second_delay_bh = NumberAttribute(null=True)
    tags = UnicodeSetAttribute(null=True)  # irritant tags, TAGS_MAX at most
    timer_shard = UnicodeAttribute(null=True)
    next_timer_at = UTCDateTimeAttribute(null=True)
    next_timer_step = UnicodeAttribute(null=True)  # remind, escalate#<n>
    last_timer = UnicodeAttribute(null=True)  # "<step>@<at>" of the last step fired
    breached_at = UTCDateTimeAttribute(null=True)  # escalate#1 fired: the SLA was missed
    last_reply_at = UTCDateTimeAttribute(null=True)
    reply_count = NumberAttribute(default=0)
    closed_at = UTCDateTimeAttribute(null=True)
    version = VersionAttribute()

    by_assignee = ByAssignee()
    by_status = ByStatus()
    by_timer = ByTimer()


class Attempt(BaseModel):
    """One call attempt on a case, never changed once written (two callers logging at once both land)."""

    class Meta:
        table_name = TableName("attempts_table")

    case_id = UnicodeAttribute(hash_key=True)
    attempt_key = UnicodeAttribute(range_key=True)  # "<attempted_at>#<attempt_id>"
    attempt_id = UnicodeAttribute()
    staff_id = UnicodeAttribute()
    outcome = UnicodeAttribute()  # one of OUTCOMES
    attempted_at = UTCDateTimeAttribute()
    notes = UnicodeAttribute(null=True)  # personal: erased with the contact (5,000 chars at most)
    tags = UnicodeSetAttribute(null=True)
    confirmed_score = NumberAttribute(null=True)  # the score as the customer confirms or corrects it
    promise = UnicodeAttribute(null=True)
    wants_follow_up = BooleanAttribute(null=True)
    second_exchange = BooleanAttribute(null=True)  # the caller delivered the promised answer
    logged_at = UTCDateTimeAttribute()


class Taxonomy(BaseModel):
    """An irritant tag managers maintain: its labels and the department that owns it. Deactivated,
    never deleted (counters are keyed by it)."""

    class Meta:
        table_name = TableName("taxonomy_table")

    tag = UnicodeAttribute(hash_key=True)  # slug [a-z0-9_-]{1,40}
    label_fr = UnicodeAttribute()
    label_en = UnicodeAttribute()
    department = UnicodeAttribute(null=True)
    active = BooleanAttribute(default=True)
    version = VersionAttribute()
