"""staff_sync: the Staff stream read out of moto pushes each change of the directory to the
Cognito user pool made from template.yaml (user, attributes, groups, enabled), stores the sub
back without feeding itself, reassigns a leaver's open cases, rewrites the contacts they own when
their email changes, and publishes StaffChanged with ids only. Retried records do nothing twice."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import boto3
import pytest

from closeloop import clock
from closeloop.ids import new_id
from closeloop.models import Case, Contact, Staff
from closeloop.services import directory, domain_events
from closeloop.services.contacts import NewContact, add_contact
from closeloop.settings import get_settings
from closeloop_local.template import ResolvedTemplate
from tests.integration.imports_support import as_function
from tests.integration.responses_support import bus_subscriber
from tests.integration.streams import TableStream
from tests.support import LambdaContext, load_event, load_handler

handler = load_handler("staff_sync")
REGION = "eu-west-1"
HUGO = "hugo.bernard@demo.closeloop.example"


@pytest.fixture
def sync(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> TableStream:
    """This process as the staff_sync function, with the Staff stream from now on."""
    as_function(stack, monkeypatch, "StaffSyncFunction")
    monkeypatch.setattr(domain_events.time, "sleep", lambda _seconds: None)
    return TableStream(get_settings().staff_table)


def apply(records: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = handler({"Records": records}, LambdaContext(function_name="staff-sync"))
    return result


def cognito() -> Any:
    return boto3.client("cognito-idp", region_name=REGION)


def pool() -> str:
    return get_settings().user_pool_id


def user(email: str) -> dict[str, Any]:
    found: dict[str, Any] = cognito().admin_get_user(UserPoolId=pool(), Username=email)
    found["attributes"] = {item["Name"]: item["Value"] for item in found["UserAttributes"]}
    return found


def groups_of(email: str) -> set[str]:
    answer = cognito().admin_list_groups_for_user(UserPoolId=pool(), Username=user(email)["Username"])
    return {group["GroupName"] for group in answer["Groups"]}


def users() -> list[dict[str, Any]]:
    return list(cognito().list_users(UserPoolId=pool())["Users"])


def version_of(staff_id: str) -> int:
    return int(Staff.get(staff_id).version)


# ---------------------------------------------------------------------- the user and its groups


def test_a_new_staff_member_becomes_a_cognito_user_in_their_groups_and_their_sub_is_stored(
    sync: TableStream,
) -> None:
    hugo = directory.create_staff(
        {"name": "Hugo Bernard", "email": HUGO, "language": "en", "groups": ["caller", "manager"]}
    )

    assert apply(sync.read()) == {"batchItemFailures": []}

    found = user(HUGO)
    assert found["Enabled"] is True
    assert found["attributes"]["email"] == HUGO
    assert found["attributes"]["email_verified"] == "true"
    assert found["attributes"]["name"] == "Hugo Bernard"
    assert found["attributes"]["locale"] == "en"
    assert groups_of(HUGO) == {"caller", "manager"}
    stored = Staff.get(hugo.staff_id, consistent_read=True)
    assert stored.cognito_sub == found["attributes"]["sub"]
    # the sync's write leaves the version the admin was given: their next edit is not refused
    assert stored.version == hugo.version
    directory.edit_staff(hugo.staff_id, {"capacity": 12}, int(hugo.version))


def test_the_sub_written_back_comes_round_the_stream_and_is_skipped(sync: TableStream) -> None:
    directory.create_staff({"name": "Hugo Bernard", "email": HUGO, "groups": ["caller"]})
    apply(sync.read())
    echo = sync.read()  # the cognito_sub write
    assert len(echo) == 1

    with bus_subscriber() as received:
        assert apply(echo) == {"batchItemFailures": []}
        assert received() == []
    assert sync.read() == []  # no further write: the function does not feed itself


def test_a_retried_batch_makes_no_second_user_and_changes_nothing(sync: TableStream) -> None:
    directory.create_staff({"name": "Hugo Bernard", "email": HUGO, "groups": ["caller"]})
    records = sync.read()
    apply(records)
    sub = user(HUGO)["attributes"]["sub"]

    assert apply(records) == {"batchItemFailures": []}

    assert [u["Username"] for u in users()] == [user(HUGO)["Username"]]
    assert user(HUGO)["attributes"]["sub"] == sub
    assert groups_of(HUGO) == {"caller"}


def test_an_existing_cognito_user_is_updated_rather_than_created_again(sync: TableStream) -> None:
    cognito().admin_create_user(
        UserPoolId=pool(), Username=HUGO, UserAttributes=[{"Name": "email", "Value": HUGO}], MessageAction="SUPPRESS"
    )
    directory.create_staff({"name": "Hugo Bernard", "email": HUGO, "groups": ["admin"]})

    assert apply(sync.read()) == {"batchItemFailures": []}

    assert len(users()) == 1
    assert user(HUGO)["attributes"]["name"] == "Hugo Bernard"
    assert groups_of(HUGO) == {"admin"}


def test_a_groups_change_adds_and_removes_cognito_groups(sync: TableStream) -> None:
    hugo = directory.create_staff({"name": "Hugo Bernard", "email": HUGO, "groups": ["caller", "manager"]})
    apply(sync.read())
    apply(sync.read())

    directory.edit_staff(hugo.staff_id, {"groups": ["manager", "admin"]}, version_of(hugo.staff_id))
    assert apply(sync.read()) == {"batchItemFailures": []}

    assert groups_of(HUGO) == {"manager", "admin"}


def test_deactivation_disables_the_user_and_reactivation_enables_it(sync: TableStream) -> None:
    hugo = directory.create_staff({"name": "Hugo Bernard", "email": HUGO, "groups": ["caller"]})
    apply(sync.read())
    apply(sync.read())

    directory.set_active(hugo.staff_id, False, version_of(hugo.staff_id))
    apply(sync.read())
    assert user(HUGO)["Enabled"] is False

    directory.set_active(hugo.staff_id, True, version_of(hugo.staff_id))
    apply(sync.read())
    assert user(HUGO)["Enabled"] is True


def test_the_sample_staff_event_makes_the_user_in_the_groups_its_new_image_names(sync: TableStream) -> None:
    event = load_event("dynamodb/staff-modify.json")

    result = handler(event, LambdaContext(function_name="staff-sync"))

    assert result == {"batchItemFailures": []}
    assert groups_of("lea.moreau@demo.closeloop.example") == {"caller", "manager"}
    assert user("lea.moreau@demo.closeloop.example")["attributes"]["name"] == "Léa Moreau"


def test_someone_added_inactive_gets_no_cognito_user(sync: TableStream) -> None:
    directory.create_staff({"name": "Hugo Bernard", "email": HUGO, "groups": ["caller"], "active": False})

    assert apply(sync.read()) == {"batchItemFailures": []}

    assert users() == []


def test_an_email_change_moves_the_cognito_email_and_the_contacts_the_person_owns(sync: TableStream) -> None:
    hugo = directory.create_staff({"name": "Hugo Bernard", "email": HUGO, "groups": ["caller"]})
    apply(sync.read())
    apply(sync.read())
    owned = add_contact(NewContact(email="iris@officine.example", account_owner=HUGO))
    other = add_contact(NewContact(email="paul@officine.example"))
    new_email = "hugo.bernard@closeloop.example"

    directory.edit_staff(hugo.staff_id, {"email": new_email}, version_of(hugo.staff_id))
    assert apply(sync.read()) == {"batchItemFailures": []}

    assert user(new_email)["attributes"]["email"] == new_email
    assert len(users()) == 1
    assert Contact.get(owned.contact_id).account_owner == new_email
    assert Contact.get(other.contact_id).account_owner is None


# ---------------------------------------------------------------------- departures and events


def _open_case(assignee_id: str, contact_id: str) -> Case:
    now = clock.now()
    case = Case(
        new_id().lower(),
        contact_id=contact_id,
        wave_id=new_id(),
        score=3,
        category="detractor",
        responded_at=now,
        opened_at=now,
        due_at=now + timedelta(days=2),
        queue_due_at=now + timedelta(days=2),
        script="detractor.fr",
        assignee_id=assignee_id,
        assigned_at=now,
        assignment="load",
        status="open",
    )
    case.save()
    return case


def test_a_departure_reassigns_the_leavers_open_cases_to_another_caller(sync: TableStream) -> None:
    hugo = directory.create_staff({"name": "Hugo Bernard", "email": HUGO, "groups": ["caller"]})
    anne = directory.create_staff(
        {"name": "Anne Roy", "email": "anne.roy@demo.closeloop.example", "groups": ["caller"]}
    )
    apply(sync.read())
    apply(sync.read())
    contact = add_contact(NewContact(email="iris@officine.example", account_owner=HUGO))
    cases = [_open_case(hugo.staff_id, contact.contact_id) for _ in range(2)]

    directory.set_active(hugo.staff_id, False, version_of(hugo.staff_id))
    records = sync.read()
    assert apply(records) == {"batchItemFailures": []}
    assert apply(records) == {"batchItemFailures": []}  # retried: nothing moves twice

    for case in cases:
        moved = Case.get(case.case_id)
        assert moved.assignee_id == anne.staff_id
        assert int(moved.version) == 2


def test_staff_changed_carries_ids_groups_state_and_department_only(sync: TableStream) -> None:
    with bus_subscriber() as received:
        hugo = directory.create_staff(
            {"name": "Hugo Bernard", "email": HUGO, "groups": ["caller"], "department": "Ventes", "phone": "0612345678"}
        )
        apply(sync.read())
        apply(sync.read())
        directory.edit_staff(hugo.staff_id, {"capacity": 3}, version_of(hugo.staff_id))  # no event for this
        apply(sync.read())
        directory.edit_staff(hugo.staff_id, {"groups": ["caller", "manager"]}, version_of(hugo.staff_id))
        apply(sync.read())
        events = received()

    assert [event["detail-type"] for event in events] == ["StaffChanged", "StaffChanged"]
    first, second = (event["detail"] for event in events)
    assert (first["staff_id"], first["groups"], first["active"], first["department"]) == (
        hugo.staff_id,
        ["caller"],
        True,
        "ventes",
    )
    assert second["groups"] == ["caller", "manager"]
    text = json.dumps(events)
    assert "Hugo" not in text
    assert HUGO not in text
    assert "33612345678" not in text


def test_someone_taken_out_of_the_caller_group_hands_their_open_cases_to_other_callers(sync: TableStream) -> None:
    # Given Hugo, a caller and manager with an open case, and Anne, another caller
    hugo = directory.create_staff({"name": "Hugo Bernard", "email": HUGO, "groups": ["caller", "manager"]})
    anne = directory.create_staff(
        {"name": "Anne Roy", "email": "anne.roy@demo.closeloop.example", "groups": ["caller"]}
    )
    apply(sync.read())
    apply(sync.read())
    contact = add_contact(NewContact(email="iris@officine.example"))
    case = _open_case(hugo.staff_id, contact.contact_id)

    # When Hugo stays a manager but no longer calls
    directory.edit_staff(hugo.staff_id, {"groups": ["manager"]}, version_of(hugo.staff_id))
    assert apply(sync.read()) == {"batchItemFailures": []}

    # Then his case went to Anne
    assert Case.get(case.case_id, consistent_read=True).assignee_id == anne.staff_id
