"""Capture (F3): the survey page behind the email's score links, and the one write that records a
response (docs/capture.md "Pages and the response write").

A GET of `/r/{token}/{score}` (or a HEAD) changes nothing but the click log: one BatchGetItem
reads the invitation and its response across both tables, one PutItem logs the click, and the
page shows the score preselected with a real Send button. The page's POST records the response:
the same BatchGetItem (consistent), then one TransactWriteItems that upserts the response and
marks the invitation, conditioned on what was read, so that retries, double clicks and
concurrent requests give exactly one response. A transaction cancelled by a conflict is tried
once more; a second failure answers "try again" with nothing half-written.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from botocore.exceptions import ClientError
from pynamodb.attributes import UTCDateTimeAttribute
from pynamodb.constants import KEY
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from closeloop import aws, clock
from closeloop.errors import InvalidInput, NotFound, Unavailable
from closeloop.ids import new_id
from closeloop.models import Click, Invitation, Response
from closeloop.observability import MetricUnit, correlation_id, logger, metrics
from closeloop.pages import Page, language_or_default
from closeloop.rules import scanner
from closeloop.rules.answers import TRAP, InvalidAnswer, clean_comment, is_score_text, parse_score
from closeloop.rules.nps import category_of
from closeloop.secrets import hash_key
from closeloop.settings import get_settings
from closeloop.tokens import TokenKind, read_token

SURVEY_KIND, TRAP_KIND = scanner.SURVEY_KIND, scanner.TRAP_KIND
CLICK_DAYS = 90
"""Clicks are kept 90 days (TTL), long enough for any promotion and any question about one."""
USER_AGENT_CHARS = 256
ATTEMPTS = 2
"""Tries of the response transaction: the first, and one more after a conflict (then 503)."""
RETRY_AFTER_SECONDS = 5
ECHO_CHARS = 1_000
"""How much more than the limit a refused comment is shown back, so the person can shorten it."""
_RETRIED = frozenset(
    {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"}
)
_CONDITION_FAILED = "ConditionalCheckFailed"
_TIME = UTCDateTimeAttribute()


@dataclass(frozen=True)
class ResponseResult:
    """What a call of record_response did: the response as it stands, and whether it moved."""

    response_id: str
    category: str
    score: int
    confirmed: bool
    created: bool  # this call wrote the response's first version
    changed: bool  # this call changed a response that existed (score, comment or confirmation)
    locked: bool  # the response is with the team (first call attempt): nothing was written


@dataclass(frozen=True)
class _Read:
    invitation: Invitation | None
    response: Response | None
    response_version: int | None  # the stored version, None when the item has none


# ------------------------------------------------------------------ reading


def _read(invitation_id: str, *, consistent: bool) -> _Read:
    """The invitation and its response in one BatchGetItem across both tables (low-level client:
    PynamoDB batches per model)."""
    settings = get_settings()
    request: dict[str, Any] = {
        settings.invitations_table: {"Keys": [{"invitation_id": {"S": invitation_id}}], "ConsistentRead": consistent},
        settings.responses_table: {"Keys": [{"response_id": {"S": invitation_id}}], "ConsistentRead": consistent},
    }
    found: dict[str, list[dict[str, Any]]] = {}
    client = aws.client("dynamodb")
    for _ in range(3):
        answer = client.batch_get_item(RequestItems=request)
        for table, items in answer.get("Responses", {}).items():
            found.setdefault(table, []).extend(items)
        request = answer.get("UnprocessedKeys") or {}
        if not request:
            break
    else:
        raise Unavailable("the survey cannot be read right now")
    invitations = found.get(settings.invitations_table) or []
    responses = found.get(settings.responses_table) or []
    return _from_items(invitations[0] if invitations else None, responses[0] if responses else None)


def _from_items(invitation: dict[str, Any] | None, response: dict[str, Any] | None) -> _Read:
    return _with_response(_Read(Invitation.from_raw_data(invitation) if invitation else None, None, None), response)


def _with_response(read: _Read, item: dict[str, Any] | None) -> _Read:
    """The same read with the response item stored now (raw, as DynamoDB returns it)."""
    version = item.get("version") if item else None
    return _Read(
        read.invitation,
        Response.from_raw_data(item) if item else None,
        int(version["N"]) if version else None,
    )


def _open_invitation(read: _Read) -> Invitation:
    """The invitation a survey token opens: one that exists and was not skipped at planning."""
    if read.invitation is None or read.invitation.status == "skipped":
        raise NotFound("this link is not valid")
    return read.invitation


def _closed(invitation: Invitation, now: datetime) -> bool:
    return invitation.closes_at is not None and now >= invitation.closes_at


# ------------------------------------------------------------------ the click log


def source_hash(address: str) -> str:
    """The keyed hash of a click's source address (hash key of emails, prefix "ip:"), 32 hex chars."""
    return hmac.new(hash_key(), f"ip:{address}".encode(), hashlib.sha256).hexdigest()[:32]


def promote_shard(invitation_id: str) -> str:
    """The by_promote shard of an invitation: SHA-256(id)[0] mod 10, one character."""
    return str(hashlib.sha256(invitation_id.encode()).digest()[0] % 10)


def _seconds(later: datetime, earlier: datetime | None) -> float | None:
    return round((later - earlier).total_seconds(), 3) if earlier is not None else None


def log_click(
    invitation: Invitation,
    *,
    kind: str,
    score: int | None,
    method: str,
    user_agent: str | None,
    source_ip: str | None,
    has_response: bool,
    now: datetime,
) -> Click:
    """Put one Click item (a plain Put: a retried GET logs a second click, it is a log).

    Survey GET clicks of an invitation with no response yet carry `promote_shard` and
    `promote_at`: the promoter judges them once the promotion delay has passed.
    """
    settings = get_settings()
    agent = (user_agent or "")[:USER_AGENT_CHARS] or None
    agent_class = scanner.ua_class(agent)
    since_delivery = _seconds(now, invitation.delivered_at)
    since_send = _seconds(now, invitation.first.at if invitation.first is not None else None)
    signals = scanner.signals_of(method, kind, agent_class, since_delivery, since_send, settings)
    click = Click(
        invitation.invitation_id,
        f"{_TIME.serialize(now)}#{new_id()}",
        kind=kind,
        score=score,
        method=method,
        user_agent=agent,
        ua_class=agent_class,
        source_hash=source_hash(source_ip) if source_ip else None,
        since_delivery_s=since_delivery,
        since_send_s=since_send,
        signals=signals or None,
        expires_at=now + timedelta(days=CLICK_DAYS),
    )
    if kind == SURVEY_KIND and method == "GET" and not has_response:
        click.promote_shard = promote_shard(invitation.invitation_id)
        click.promote_at = now + timedelta(minutes=settings.promotion_delay_minutes)
    # The request's one client (not PynamoDB's own): a second client is a second cold start cost.
    aws.client("dynamodb").put_item(TableName=settings.clicks_table, Item=click.serialize())
    metrics.add_metric(name=f"clicks_{kind}_{method.lower()}", unit=MetricUnit.Count, value=1)
    return click


# ------------------------------------------------------------------ pages


def _first_name(invitation: Invitation) -> str:
    return (invitation.first_name or "").strip()


def _survey_page(
    token: str,
    invitation: Invitation,
    response: Response | None,
    *,
    selected: int | None,
    comment: str,
    status: int = 200,
    error: str | None = None,
) -> Page:
    settings = get_settings()
    previous = int(response.score) if response is not None and response.confirmed else None
    return Page(
        "survey",
        language_or_default(invitation.language),
        status,
        {
            "token": token,
            "first_name": _first_name(invitation),
            "scores": range(11),
            "selected": selected,
            "comment": comment,
            "previous_score": previous,
            "max_chars": settings.comment_max_chars,
            "error": error,
        },
    )


def _with_team_page(invitation: Invitation, response: Response | None, status: int) -> Page:
    score = int(response.score) if response is not None else None
    return Page(
        "with_team",
        language_or_default(invitation.language),
        status,
        {"first_name": _first_name(invitation), "score": score},
    )


def _gone_page(invitation: Invitation) -> Page:
    language = language_or_default(invitation.language)
    return Page("gone", language, 410, {"languages": [language]})


def show_survey_page(token: str, score: str, method: str, user_agent: str | None, source_ip: str | None) -> Page:
    """The page of a score link (GET or HEAD): the click logged, the score preselected.

    NotFound (one friendly 404, nothing recorded) for a token that is not a valid survey token,
    a score that is not one of the links', or an unknown invitation; a closed wave is a 410 page,
    nothing recorded. The trap link logs a `trap` click and shows an empty page.
    """
    method = method.upper()
    kind = TRAP_KIND if score == TRAP else SURVEY_KIND
    if kind == SURVEY_KIND and not is_score_text(score):
        raise NotFound("this link is not valid")
    invitation_id = read_token(token, TokenKind.SURVEY)
    read = _read(invitation_id, consistent=False)
    invitation = _open_invitation(read)
    now = clock.now()
    if _closed(invitation, now):
        metrics.add_metric(name="survey_closed_visits", unit=MetricUnit.Count, value=1)
        return _gone_page(invitation)
    log_click(
        invitation,
        kind=kind,
        score=int(score) if kind == SURVEY_KIND else None,
        method=method,
        user_agent=user_agent,
        source_ip=source_ip,
        has_response=read.response is not None,
        now=now,
    )
    if kind == TRAP_KIND:
        return Page("trap", language_or_default(invitation.language))
    response = read.response
    if response is not None and response.locked_at is not None:
        return _with_team_page(invitation, response, 200)
    comment = (response.comment or "") if response is not None else ""
    return _survey_page(token, invitation, response, selected=int(score), comment=comment)


def _single(fields: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = fields.get(name) or []
    return values[0] if len(values) == 1 else None


def submit_survey_form(token: str, fields: Mapping[str, Sequence[str]]) -> Page:
    """The page's POST (`score`, `comment`): the response recorded, then the thank-you page of its
    category. 400 page for a missing score or an overlong comment (what was typed is kept), 409
    "with the team" once the response is locked, 410 after the closing, 503 when the write could
    not be made (nothing half-written)."""
    invitation_id = read_token(token, TokenKind.SURVEY)
    read = _read(invitation_id, consistent=True)
    invitation = _open_invitation(read)
    language = language_or_default(invitation.language)
    if _closed(invitation, clock.now()):
        return _gone_page(invitation)
    if read.response is not None and read.response.locked_at is not None:
        metrics.add_metric(name="responses_locked", unit=MetricUnit.Count, value=1)
        return _with_team_page(invitation, read.response, 409)
    typed = _single(fields, "comment") or ""
    try:
        score_text = _single(fields, "score")
        selected = int(score_text) if score_text is not None and is_score_text(score_text) else None
        score = parse_score(score_text)
        comment = clean_comment(typed, get_settings().comment_max_chars)
    except InvalidAnswer as error:
        metrics.add_metric(name="responses_refused", unit=MetricUnit.Count, value=1)
        echo = typed[: get_settings().comment_max_chars + ECHO_CHARS]
        return _survey_page(
            token, invitation, read.response, selected=selected, comment=echo, status=400, error=error.code
        )
    try:
        result = _record(read, score, comment, source="form", confirmed=True)
    except Unavailable:
        return Page("unavailable", language, 503, {"languages": [language]}, {"Retry-After": str(RETRY_AFTER_SECONDS)})
    if result.locked:
        return _with_team_page(invitation, read.response, 409)
    return Page(
        "thanks",
        language,
        200,
        {
            "first_name": _first_name(invitation),
            "category": result.category,
            "score": result.score,
            "comment": comment or "",
            "changed": result.changed,
        },
    )


# ------------------------------------------------------------------ the response write


def record_response(
    invitation_id: str,
    score: int,
    comment: str | None,
    *,
    source: str = "form",
    confirmed: bool = True,
    answered_at: datetime | None = None,
) -> ResponseResult:
    """Write the response of an invitation and mark the invitation, in one transaction.

    `answered_at` is when the person answered (default: now); a promoted click passes the click's
    time, so the response, its month and the invitation's `responded_at` date from the click.

    Idempotent: the same answer again writes nothing. A confirmed call creates the response,
    changes its score and comment, or confirms (replaces) an unconfirmed one; an unconfirmed
    call (a promoted click) writes only when there is no response yet. Nothing is written once
    the response is locked (`locked` in the result). The wave's closing is the caller's to check.
    InvalidInput for a score outside 0-10 or an overlong comment, NotFound for an unknown
    invitation, Unavailable when conflicts kept cancelling the transaction (nothing written).
    """
    if isinstance(score, bool) or not isinstance(score, int) or not 0 <= score <= 10:
        raise InvalidInput("a score is a whole number from 0 to 10")
    try:
        cleaned = clean_comment(comment, get_settings().comment_max_chars)
    except InvalidAnswer as error:
        raise InvalidInput(str(error)) from error
    read = _read(invitation_id, consistent=True)
    if read.invitation is None:
        raise NotFound("no such invitation")
    return _record(read, score, cleaned, source=source, confirmed=confirmed, answered_at=answered_at)


@dataclass(frozen=True)
class _Plan:
    result: ResponseResult
    items: list[dict[str, Any]]  # empty: nothing to write


def _update(
    model: type[Response] | type[Invitation], key: str, actions: list[Action], condition: Condition
) -> dict[str, Any]:
    request: dict[str, Any] = model._get_connection().get_operation_kwargs(
        key, key=KEY, actions=actions, condition=condition
    )
    request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {"Update": request}


def _month(moment: datetime) -> str:
    return moment.astimezone(ZoneInfo(get_settings().timezone)).strftime("%Y-%m")


def _plan(
    read: _Read,
    score: int,
    comment: str | None,
    *,
    source: str,
    confirmed: bool,
    now: datetime,
    answered_at: datetime | None = None,
) -> _Plan:
    """What to write for this answer, given what is stored (`now` the write, `answered_at` the
    answer, `now` when not given)."""
    answered = answered_at or now
    invitation = read.invitation
    assert invitation is not None
    existing = read.response
    response_id = invitation.invitation_id
    category = category_of(score)
    if existing is not None:
        stored = ResponseResult(
            response_id,
            existing.category,
            int(existing.score),
            bool(existing.confirmed),
            created=False,
            changed=False,
            locked=existing.locked_at is not None,
        )
        same = existing.confirmed and int(existing.score) == score and (existing.comment or None) == comment
        if stored.locked or not confirmed or same:
            return _Plan(stored, [])

    stamp: list[Action] = [Response.updated_at.set(now), Response.score.set(score), Response.category.set(category)]
    cid = correlation_id()
    if cid:
        stamp.append(Response.correlation_id.set(cid))
    stamp.append(Response.comment.set(comment) if comment else Response.comment.remove())
    stamp.append(Response.has_comment.set(comment is not None))
    stamp.append(Response.source.set(source))
    stamp.append(Response.confirmed.set(confirmed))
    condition: Condition
    if existing is None:
        actions = [
            *stamp,
            Response.contact_id.set(invitation.contact_id),
            Response.wave_id.set(invitation.wave_id),
            Response.language.set(language_or_default(invitation.language)),
            Response.weight.set(invitation.weight if invitation.weight is not None else 1),
            Response.first_score.set(score),
            Response.captured_month.set(_month(answered)),
            Response.created_at.set(answered),
            Response.edits.set(0),
            Response.version.set(1),
        ]
        if invitation.segment:
            actions.append(Response.segment.set(invitation.segment))
        if invitation.month:
            actions.append(Response.month.set(invitation.month))
        if confirmed:
            actions.append(Response.confirmed_at.set(answered))
        condition = Response.response_id.does_not_exist()
        result = ResponseResult(response_id, category, score, confirmed, created=True, changed=False, locked=False)
    else:
        actions = [*stamp, Response.version.add(1)]
        if existing.confirmed:
            actions.append(Response.edits.add(1))
        else:  # a person confirms a promoted click: their answer replaces it, as their first
            actions += [Response.first_score.set(score), Response.confirmed_at.set(answered)]
        stored_version = read.response_version
        condition = Response.locked_at.does_not_exist() & (
            Response.version == stored_version if stored_version is not None else Response.version.does_not_exist()
        )
        result = ResponseResult(response_id, category, score, True, created=False, changed=True, locked=False)

    items = [_update(Response, response_id, actions, condition)]
    if invitation.responded_at is None or invitation.delivered_at is None:
        marks = [
            Invitation.responded_at.set(Invitation.responded_at | answered),
            Invitation.delivered_at.set(Invitation.delivered_at | answered),
        ]
        items.append(_update(Invitation, response_id, marks, Invitation.invitation_id.exists()))
    return _Plan(result, items)


def _record(
    read: _Read,
    score: int,
    comment: str | None,
    *,
    source: str,
    confirmed: bool,
    answered_at: datetime | None = None,
) -> ResponseResult:
    """Plan and write; a write refused because someone else wrote first is planned again from the
    item the refusal returns (no read), a conflict is retried once after a short random pause."""
    client = aws.client("dynamodb")
    for attempt in range(ATTEMPTS):
        plan = _plan(read, score, comment, source=source, confirmed=confirmed, now=clock.now(), answered_at=answered_at)
        if not plan.items:
            _count(plan.result)
            return plan.result
        try:
            client.transact_write_items(TransactItems=plan.items)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "TransactionCanceledException":
                raise
            reasons = error.response.get("CancellationReasons") or []
            codes = [str(reason.get("Code")) for reason in reasons]
            if len(codes) > 1 and codes[1] == _CONDITION_FAILED:
                raise NotFound("no such invitation") from error
            if codes and codes[0] == _CONDITION_FAILED:
                logger.info("response written meanwhile", extra={"response_id": plan.result.response_id})
                stored: dict[str, Any] | None = reasons[0].get("Item")  # type: ignore[assignment]
                read = _with_response(read, stored)
                continue
            if not _RETRIED.intersection(codes):
                raise
            metrics.add_metric(name="response_write_conflicts", unit=MetricUnit.Count, value=1)
            if attempt + 1 < ATTEMPTS:
                time.sleep(random.uniform(0, 0.05 * 2**attempt))  # noqa: S311 - jitter, not a secret
            continue
        _count(plan.result)
        logger.info(
            "response recorded",
            extra={
                "response_id": plan.result.response_id,
                "category": plan.result.category,
                "new_response": plan.result.created,
                "confirmed": plan.result.confirmed,
                "source": source,
            },
        )
        return plan.result
    metrics.add_metric(name="response_write_unavailable", unit=MetricUnit.Count, value=1)
    response_id = read.invitation.invitation_id if read.invitation is not None else None
    logger.warning("response not written: transaction kept failing", extra={"response_id": response_id})
    raise Unavailable("the answer could not be saved right now: try again in a moment")


def _count(result: ResponseResult) -> None:
    if result.locked:
        name = "responses_locked"
    elif result.created:
        name = "responses_created"
    elif result.changed:
        name = "responses_changed"
    else:
        name = "responses_unchanged"
    metrics.add_metric(name=name, unit=MetricUnit.Count, value=1)
