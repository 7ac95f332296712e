"""The models against tables created from template.yaml: keys, lookups and what every item carries."""

from __future__ import annotations

import boto3
import pytest

from closeloop import clock
from closeloop.errors import Conflict, InvalidInput
from closeloop.models import Contact, ContactEmail, Staff, invitation_id_for
from closeloop.observability import logger
from closeloop.secrets import email_hash
from closeloop.services.contacts import NewContact, add_contact
from closeloop.services.directory import add_staff
from closeloop_local.template import ResolvedTemplate


def test_a_contact_is_stored_with_a_unique_lookup_keyed_by_a_keyed_hash_of_its_email(stack: ResolvedTemplate) -> None:
    contact = add_contact(NewContact(" Anne.Lefebvre@Cabinet.example ", "Anne", "Lefebvre", company="Cabinet Éléa"))

    stored = Contact.get(contact.contact_id)
    assert stored.email == "anne.lefebvre@cabinet.example"
    assert stored.company_key == "cabinet elea"
    lookup = ContactEmail.get(email_hash("anne.lefebvre@cabinet.example"))
    assert lookup.contact_id == contact.contact_id
    keys = [
        item["email_hash"]["S"]
        for item in boto3.client("dynamodb").scan(TableName=ContactEmail.Meta.table_name)["Items"]
    ]
    assert all("@" not in key for key in keys), "no email in any key"


def test_the_same_email_differing_only_in_case_is_the_same_contact(stack: ResolvedTemplate) -> None:
    add_contact(NewContact("julien.moreau@pharma.example"))

    with pytest.raises(Conflict):
        add_contact(NewContact("Julien.MOREAU@pharma.example"))

    assert Contact.count() == 1
    assert ContactEmail.count() == 1


def test_a_contact_with_a_bad_email_or_language_is_refused_with_a_reason(stack: ResolvedTemplate) -> None:
    with pytest.raises(InvalidInput, match="email"):
        add_contact(NewContact("not-an-email"))
    with pytest.raises(InvalidInput, match="language"):
        add_contact(NewContact("a@b.example", language="de"))
    assert Contact.count() == 0


def test_the_email_hash_depends_on_the_secret_key(stack: ResolvedTemplate) -> None:
    assert email_hash("a@b.example") == email_hash(" A@B.example")
    assert email_hash("a@b.example") != email_hash("a@b.example", key=b"another key")


def test_every_new_item_carries_the_correlation_id_and_the_domain_time_that_wrote_it(
    stack: ResolvedTemplate,
) -> None:
    at = clock.now().replace(year=2027, microsecond=0)
    clock.set_state(frozen_at=at)
    logger.set_correlation_id("corr-import-42")
    try:
        staff = add_staff(email="amina.diallo@example.com", name="Amina Diallo", groups={"caller"})
    finally:
        logger.set_correlation_id(None)

    stored = Staff.get(staff.staff_id)
    assert stored.correlation_id == "corr-import-42"
    assert stored.created_at == at


def test_staff_are_found_by_their_sign_in_email_whatever_its_case(stack: ResolvedTemplate) -> None:
    staff = add_staff(email="Hugo.Bernard@Example.com", name="Hugo Bernard", groups={"caller"})

    found = Staff.find_by_email("hugo.bernard@example.COM")

    assert found is not None
    assert found.staff_id == staff.staff_id
    assert Staff.find_by_email("nobody@example.com") is None


def test_adding_staff_with_an_unknown_group_is_refused(stack: ResolvedTemplate) -> None:
    with pytest.raises(InvalidInput, match="unknown groups: ceo"):
        add_staff(email="x@example.com", name="X", groups={"ceo"})


def test_an_invitation_id_is_the_same_for_one_contact_in_one_wave_and_differs_otherwise() -> None:
    first = invitation_id_for("wave-1", "contact-1")

    assert first == invitation_id_for("wave-1", "contact-1")
    assert first != invitation_id_for("wave-2", "contact-1")
    assert len(first) == 26
    assert first == first.lower()
