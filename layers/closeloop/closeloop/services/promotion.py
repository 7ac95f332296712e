"""Clicks never confirmed, judged once their delay has passed (docs/data-model.md 7.5).

The promoter runs every 5 minutes. Per shard of `Clicks.by_promote`, the survey GET clicks whose
`promote_at` has passed; per invitation, all its clicks (trap and HEAD ones included). While the
invitation's latest `promote_at` is still ahead, it waits: a later click may change the verdict.
Otherwise it reads the invitation and its response in one BatchGetItem and, if there is no
response, the wave was open at the click and a person's click stands out from the scanners'
(closeloop.rules.scanner), writes the unconfirmed response through capture's own write
(`record_response(..., source="click", confirmed=False)`, which never overwrites a response).
Then it removes `promote_at` and `promote_shard` from the clicks decided, each on the condition
that it still holds the value seen. A crash between the two steps repeats a decision already
written, harmlessly: the response exists, nothing is written twice.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pynamodb.exceptions import UpdateError

from closeloop import clock
from closeloop.errors import DomainError, Unavailable
from closeloop.models import Click, Invitation, Response
from closeloop.observability import MetricUnit, logger, metrics
from closeloop.rules.scanner import ClickSeen, PromotionDecision, promotion_candidate
from closeloop.services.capture import record_response
from closeloop.settings import get_settings

SHARDS = 10
"""by_promote shards, `SHA-256(invitation_id)[0] mod 10` (capture.promote_shard)."""
PROMOTION_SOURCE = "click"


@dataclass
class PromotionRun:
    """What one run of the promoter did."""

    decided: int = 0  # invitations whose waiting clicks were decided and cleared
    promoted: int = 0  # unconfirmed responses written
    waiting: int = 0  # invitations with a click still inside its delay
    scanner_clicks: int = 0  # clicks judged a scanner's
    stopped_early: bool = False
    promoted_ids: list[str] = field(default_factory=list)


def _clicked_at(click: Click) -> datetime:
    """The click's time, from its key (`<clicked_at>#<click_id>`), else when it was written."""
    try:
        return datetime.fromisoformat(click.click_key.split("#", 1)[0])
    except ValueError:
        return click.created_at


def _seen(click: Click) -> ClickSeen:
    return ClickSeen(
        clicked_at=_clicked_at(click),
        kind=str(click.kind or "survey"),
        score=int(click.score) if click.score is not None else None,
        method=str(click.method or "GET"),
        signals=frozenset(click.signals or ()),
        key=click.click_key,
    )


def due_invitations(shard: str, now: datetime) -> Iterator[str]:
    """Invitations with a survey click waiting in this shard whose delay has passed, each once."""
    seen: set[str] = set()
    for click in Click.by_promote.query(shard, Click.promote_at <= now):
        if click.invitation_id not in seen:
            seen.add(click.invitation_id)
            yield click.invitation_id


def _invitation_and_response(invitation_id: str) -> tuple[Invitation | None, Response | None]:
    """Both items in one BatchGetItem across the two tables (PynamoDB batches per model)."""
    settings = get_settings()
    key = {"S": invitation_id}
    request: dict[str, Any] = {
        settings.invitations_table: {"Keys": [{"invitation_id": key}], "ConsistentRead": True},
        settings.responses_table: {"Keys": [{"response_id": key}], "ConsistentRead": True},
    }
    connection = Invitation._get_connection().connection
    found: dict[str, list[dict[str, Any]]] = {}
    while request:
        answer = connection.dispatch("BatchGetItem", {"RequestItems": request})
        for table, items in answer.get("Responses", {}).items():
            found.setdefault(table, []).extend(items)
        request = answer.get("UnprocessedKeys") or {}
    invitations = found.get(settings.invitations_table) or []
    responses = found.get(settings.responses_table) or []
    return (
        Invitation.from_raw_data(invitations[0]) if invitations else None,
        Response.from_raw_data(responses[0]) if responses else None,
    )


def _clear(click: Click) -> None:
    """The click is decided: out of the index, unless it changed since it was read."""
    try:
        Click._get_connection().update_item(
            click.invitation_id,
            range_key=click.click_key,
            actions=[Click.promote_at.remove(), Click.promote_shard.remove()],
            condition=Click.promote_at == click.promote_at,
        )
    except UpdateError as error:
        if error.cause_response_code != "ConditionalCheckFailedException":
            raise


def _open_at(invitation: Invitation, at: datetime) -> bool:
    return invitation.closes_at is None or at < invitation.closes_at


def _promote(invitation: Invitation, candidate: ClickSeen, run: PromotionRun) -> bool:
    """The unconfirmed response, if the wave was open at the click, through capture's write (which
    writes only where there is no response yet). False when the write could not be made now: the
    clicks wait for the next run."""
    invitation_id = invitation.invitation_id
    if candidate.score is None or not _open_at(invitation, candidate.clicked_at):
        return True
    try:
        result = record_response(
            invitation_id,
            candidate.score,
            None,
            source=PROMOTION_SOURCE,
            confirmed=False,
            answered_at=candidate.clicked_at,
        )
    except Unavailable:
        logger.warning("click not promoted yet: the write kept conflicting", extra={"invitation_id": invitation_id})
        return False
    except DomainError as error:  # the invitation is gone: nothing to promote
        logger.info("click not promoted", extra={"invitation_id": invitation_id, "reason": error.reason})
        return True
    if result.created:
        run.promoted += 1
        run.promoted_ids.append(invitation_id)
        logger.info("click promoted: unconfirmed response", extra={"invitation_id": invitation_id})
    return True


def decide(invitation_id: str, now: datetime, run: PromotionRun) -> PromotionDecision | None:
    """Judge one invitation's clicks (None: it waits, or has nothing waiting)."""
    clicks = list(Click.query(invitation_id, consistent_read=True))
    waiting = [click for click in clicks if click.promote_at is not None]
    if not waiting:
        return None
    if max(click.promote_at for click in waiting) > now:
        run.waiting += 1
        return None
    invitation, response = _invitation_and_response(invitation_id)
    sent_at = invitation.first.at if invitation is not None and invitation.first is not None else None
    decision = promotion_candidate(
        [_seen(click) for click in clicks],
        get_settings(),
        delivered_at=invitation.delivered_at if invitation is not None else None,
        sent_at=sent_at,
    )
    candidate = decision.candidate
    if invitation is None:
        logger.warning("clicks of an unknown invitation: none promoted", extra={"invitation_id": invitation_id})
    elif response is None and candidate is not None and not _promote(invitation, candidate, run):
        return None
    run.scanner_clicks += decision.scanner_clicks
    for click in waiting:
        _clear(click)
    run.decided += 1
    return decision


def promote_clicks(*, time_left: Callable[[], float] | None = None, reserve_seconds: float = 10.0) -> PromotionRun:
    """One run of the promoter over every shard; stops early (the next run goes on) when
    `time_left()` (seconds) falls under the reserve."""
    run = PromotionRun()
    now = clock.now()
    for shard in range(SHARDS):
        for invitation_id in due_invitations(str(shard), now):
            if time_left is not None and time_left() < reserve_seconds:
                run.stopped_early = True
                break
            decide(invitation_id, now, run)
        if run.stopped_early:
            break
    if run.promoted:
        metrics.add_metric(name="clicks_promoted", unit=MetricUnit.Count, value=run.promoted)
    if run.scanner_clicks:
        metrics.add_metric(name="clicks_judged_scanner", unit=MetricUnit.Count, value=run.scanner_clicks)
    logger.info(
        "promotion run",
        extra={
            "decided": run.decided,
            "promoted": run.promoted,
            "waiting": run.waiting,
            "scanner_clicks": run.scanner_clicks,
        },
    )
    return run
