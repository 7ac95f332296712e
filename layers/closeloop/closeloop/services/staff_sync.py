"""The staff directory pushed to the Cognito user pool, from the Staff stream (docs/callbacks.md
"The staff directory", docs/data-model.md 8.1).

For each change of a staff member: the Cognito user made or updated (username = email; email,
email_verified, name, locale), its groups matched to `groups`, enabled or disabled with `active`;
the Cognito `sub` stored back on the item; on a departure (active -> inactive) their open cases
reassigned; on an email change the contacts they own rewritten to the new address; `StaffChanged`
on the bus when groups, state or department changed. Every step is idempotent (an existing user
is updated, a group already there is fine, a case already moved stays), so a retried record does
nothing twice. The write of `cognito_sub` comes back on the stream as a record whose only changes
are `cognito_sub` and `version`: such records (and the counters' `open_cases`) are skipped, so
the function never feeds itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from botocore.exceptions import ClientError
from pynamodb.exceptions import UpdateError

from closeloop import aws
from closeloop.models import GROUPS, Contact, Staff
from closeloop.observability import MetricUnit, logger, metrics
from closeloop.rules.response_events import DomainEvent
from closeloop.services.counters import event_id_of
from closeloop.services.domain_events import Pending, occurred_at, publish
from closeloop.settings import get_settings

STAFF_CHANGED = "StaffChanged"
SCHEMA = 1
# Attributes whose change alone is not the directory's: the counters', staff_sync's own write, bookkeeping.
NOT_OURS = frozenset({"open_cases", "cognito_sub", "updated_at", "version", "correlation_id"})
SYNCED = ("email", "name", "language", "groups", "active")


class SyncFailed(Exception):
    """A step of the sync could not be done: the stream hands the record over again."""


def _groups(image: Mapping[str, Any] | None) -> set[str]:
    return {str(group) for group in ((image or {}).get("groups") or ())}


def _active(image: Mapping[str, Any] | None) -> bool:
    return bool(image) and (image or {}).get("active") is not False


def changed_fields(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> set[str]:
    """The attributes of the item that changed, but for those that are not the directory's."""
    if not old:
        return set(new) - NOT_OURS
    names = (set(new) | set(old)) - NOT_OURS
    return {name for name in names if _value(new.get(name)) != _value(old.get(name))}


def _value(value: Any) -> Any:
    if isinstance(value, set | frozenset | list | tuple):
        return frozenset(str(item) for item in value)
    return value


def staff_events(event_id: str, new: Mapping[str, Any], old: Mapping[str, Any] | None, at: str) -> list[DomainEvent]:
    """`StaffChanged` when a member appears or their groups, state or department change (ids only)."""
    if old and not ({"groups", "active", "department"} & changed_fields(new, old)):
        return []
    detail = {
        "event_id": f"{event_id}:{STAFF_CHANGED}",
        "occurred_at": at,
        "schema": SCHEMA,
        "staff_id": new.get("staff_id"),
        "groups": sorted(_groups(new)),
        "active": _active(new),
        "department": new.get("department"),
    }
    return [DomainEvent(STAFF_CHANGED, detail)]


# ------------------------------------------------------------------ Cognito


def _cognito() -> Any:
    return aws.client("cognito-idp")


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


def _attributes(new: Mapping[str, Any]) -> list[dict[str, str]]:
    attributes = [
        {"Name": "email", "Value": str(new["email"])},
        {"Name": "email_verified", "Value": "true"},  # the company gives the address: no code to confirm it
        {"Name": "name", "Value": str(new.get("name") or new["email"])},
    ]
    if new.get("language"):
        attributes.append({"Name": "locale", "Value": str(new["language"])})
    return attributes


def _user(pool_id: str, username: str) -> dict[str, Any] | None:
    try:
        found: dict[str, Any] = _cognito().admin_get_user(UserPoolId=pool_id, Username=username)
    except ClientError as error:
        if _code(error) == "UserNotFoundException":
            return None
        raise
    return found


def _ensure_user(pool_id: str, new: Mapping[str, Any], old: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The Cognito user of this staff member, made or brought up to date; None for someone inactive
    who never had one (a departure before any sign-in gets no invitation)."""
    email = str(new["email"])
    previous = str(old["email"]) if old and old.get("email") and old.get("email") != email else None
    user = _user(pool_id, email)
    if user is None and previous:
        user = _user(pool_id, previous)  # an email change: the user still has the old address
    if user is None:
        if not _active(new):
            return None
        try:
            # Cognito sends its invitation (a temporary password) to the new staff member.
            _cognito().admin_create_user(
                UserPoolId=pool_id, Username=email, UserAttributes=_attributes(new), DesiredDeliveryMediums=["EMAIL"]
            )
            metrics.add_metric(name="staff_users_created", unit=MetricUnit.Count, value=1)
        except ClientError as error:
            if _code(error) != "UsernameExistsException":  # made by an earlier try of this record
                raise
        user = _user(pool_id, email)
        if user is None:
            raise SyncFailed("the Cognito user cannot be read after its creation")
        return user
    username = str(user["Username"])
    current = {item["Name"]: item["Value"] for item in user.get("UserAttributes") or []}
    changes = [item for item in _attributes(new) if current.get(item["Name"]) != item["Value"]]
    if any(item["Name"] == "email" for item in changes):
        changes = [item for item in changes if item["Name"] != "email_verified"]
        changes.append({"Name": "email_verified", "Value": "true"})  # else Cognito unverifies a new email
    if changes:
        _cognito().admin_update_user_attributes(UserPoolId=pool_id, Username=username, UserAttributes=changes)
    return user


def _sync_groups(pool_id: str, username: str, wanted: set[str]) -> None:
    """The user's product groups made equal to `wanted` (groups the product does not know are left)."""
    paginator = _cognito().get_paginator("admin_list_groups_for_user")
    current = {
        group["GroupName"]
        for page in paginator.paginate(UserPoolId=pool_id, Username=username)
        for group in page.get("Groups") or []
    }
    for group in sorted(wanted - current):
        _cognito().admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)
    for group in sorted((current - wanted) & set(GROUPS)):
        _cognito().admin_remove_user_from_group(UserPoolId=pool_id, Username=username, GroupName=group)


def _sync_enabled(pool_id: str, username: str, user: Mapping[str, Any], active: bool) -> None:
    if active and user.get("Enabled") is False:
        _cognito().admin_enable_user(UserPoolId=pool_id, Username=username)
    elif not active and user.get("Enabled") is not False:
        _cognito().admin_disable_user(UserPoolId=pool_id, Username=username)


def _sub_of(user: Mapping[str, Any]) -> str | None:
    for item in user.get("UserAttributes") or user.get("Attributes") or []:
        if item.get("Name") == "sub":
            return str(item["Value"])
    return None


def _store_sub(new: Mapping[str, Any], sub: str) -> None:
    """`cognito_sub` on the item, written beside the directory's own fields: no version check and
    no version move (PynamoDB's update would ADD 1), so an admin editing this person with the
    version they were given never gets a 409 for it."""
    try:
        Staff._get_connection().update_item(
            str(new["staff_id"]),
            actions=[Staff.cognito_sub.set(sub)],
            condition=Staff.staff_id.exists() & (Staff.cognito_sub != sub),
        )
    except UpdateError as error:
        if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise


def sync_to_cognito(new: Mapping[str, Any], old: Mapping[str, Any] | None) -> str | None:
    """Push one staff member to the user pool; their Cognito sub (None when they have no user)."""
    pool_id = get_settings().user_pool_id
    if not pool_id:
        raise SyncFailed("USER_POOL_ID is not set for this function")
    user = _ensure_user(pool_id, new, old)
    if user is None:
        return None
    username = str(user["Username"])  # the sub: the pool signs in with the email as an alias
    active = _active(new)
    if active:
        _sync_groups(pool_id, username, _groups(new))
    _sync_enabled(pool_id, username, user, active)
    sub = _sub_of(user)
    if sub and sub != new.get("cognito_sub"):
        _store_sub(new, sub)
    return sub


# ------------------------------------------------------------------ what follows a change


def rewrite_account_owner(old_email: str, new_email: str) -> int:
    """The contacts owned by `old_email` now owned by `new_email` (conditional: safe to repeat)."""
    moved = 0
    for key in Contact.by_owner.query(old_email):
        contact = Contact(key.contact_id)
        contact.version = 0  # only for PynamoDB to ADD 1; the condition is on the owner
        try:
            contact.update(
                actions=[Contact.account_owner.set(new_email)],
                condition=Contact.account_owner == old_email,
                add_version_condition=False,
            )
        except UpdateError as error:
            if getattr(error, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
            continue
        moved += 1
    return moved


def reassign_cases_of(staff_id: str) -> int:
    # B's assignment service; imported here so that the rest of the sync does not depend on it.
    from closeloop.services.assignment import reassign_open_cases

    return reassign_open_cases(staff_id)


def sync_record(record: DynamoDBRecord) -> None:
    """Everything one Staff stream record asks for; raises to have the record handed over again."""
    images = record.dynamodb
    new = images.new_image if images else None
    old = images.old_image if images else None
    if not new or not new.get("email"):
        return  # staff are deactivated, never deleted; a key-only image has nothing to push
    changed = changed_fields(new, old)
    if not changed:
        return  # the counters' open_cases, or this function's own cognito_sub
    if changed & set(SYNCED) or not new.get("cognito_sub"):
        sync_to_cognito(new, old)
    staff_id = str(new["staff_id"])
    was_caller = _active(old) and "caller" in _groups(old)
    if old and was_caller and not (_active(new) and "caller" in _groups(new)):
        # a departure, or someone who no longer calls: their open cases go to other callers
        moved = reassign_cases_of(staff_id)
        metrics.add_metric(name="cases_reassigned_on_departure", unit=MetricUnit.Count, value=moved)
    if old and old.get("email") and new.get("email") != old.get("email"):
        rewrite_account_owner(str(old["email"]), str(new["email"]))
    events = staff_events(event_id_of(record), new, old, occurred_at(record))
    if events and publish([Pending(event_id_of(record), found) for found in events]):
        raise SyncFailed("StaffChanged not published")
    logger.info("staff synced", extra={"staff_id": staff_id, "changed": sorted(changed)})


_processor = BatchProcessor(event_type=EventType.DynamoDBStreams, raise_on_entire_batch_failure=False)


def process_staff_sync(event: dict[str, Any], context: Any) -> PartialItemFailureResponse:
    """The staff_sync handler: each record synced on its own; those that failed reported to the
    stream (ReportBatchItemFailures), which hands them over again, bisecting."""
    return process_partial_response(event=event, record_handler=sync_record, processor=_processor, context=context)
