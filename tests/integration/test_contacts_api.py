"""The contacts API function: add, edit (version-checked), show, list and search, behind the group checks."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlencode

import pytest

from closeloop.models import Contact, ContactEmail
from closeloop.secrets import email_hash
from closeloop.services.directory import add_staff
from closeloop_local.template import ResolvedTemplate
from tests.integration.imports_support import as_function
from tests.support import LambdaContext, load_event, load_handler

handler = load_handler("contacts_api")
CLAIRE = "claire.martin@demo.closeloop.example"
OWNER = "hugo.bernard@demo.closeloop.example"


@pytest.fixture
def api(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    as_function(stack, monkeypatch, "ContactsApiFunction")
    add_staff(email=OWNER, name="Hugo Bernard", groups={"caller"})
    return stack


def call(
    method: str,
    path: str,
    body: dict[str, Any] | None = None,
    *,
    query: dict[str, str] | None = None,
    groups: str = "[caller manager]",
    language: str = "en",
) -> tuple[int, Any]:
    """An HTTP API event for a route, as API Gateway hands it over with a signed-in staff member."""
    event = load_event("http/me.json")
    parts = path.strip("/").split("/")
    template = "/" + "/".join([parts[0], *(["{" + parts[0][:-1] + "_id}"] if len(parts) > 1 else [])])
    event["routeKey"] = f"{method} {template}"
    event["rawPath"] = path
    event["rawQueryString"] = urlencode(query or {})
    event["queryStringParameters"] = query or None
    event["pathParameters"] = {f"{parts[0][:-1]}_id": parts[1]} if len(parts) > 1 else None
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["routeKey"] = event["routeKey"]
    event["requestContext"]["authorizer"]["jwt"]["claims"]["cognito:groups"] = groups
    event["headers"]["accept-language"] = language
    if body is not None:
        event["body"] = json.dumps(body)
        event["headers"]["content-type"] = "application/json"
    result = handler(event, LambdaContext())
    return result["statusCode"], json.loads(result["body"]) if result.get("body") else None


def add(**fields: Any) -> dict[str, Any]:
    status, body = call("POST", "/contacts", fields)
    assert status == 201, body
    return body  # type: ignore[no-any-return]


def test_a_manager_adds_a_contact_whose_fields_are_normalised(api: ResolvedTemplate) -> None:
    status, body = call(
        "POST",
        "/contacts",
        {
            "email": " Iris.Lemoine@Officine.example ",
            "first_name": "Iris",
            "last_name": "Lemoine",
            "phone": "04 72 00 00 07",
            "company": "Officine Lemoine",
            "segment": "Pharmacie",
            "language": "Français",
            "account_owner": OWNER.upper(),
            "weight": "0,75",
        },
    )

    assert status == 201, body
    assert {k: body[k] for k in ("email", "phone", "segment", "language", "account_owner", "weight", "version")} == {
        "email": "iris.lemoine@officine.example",
        "phone": "+33472000007",
        "segment": "pharmacie",
        "language": "fr",
        "account_owner": OWNER,
        "weight": 0.75,
        "version": 1,
    }
    assert ContactEmail.get(email_hash("iris.lemoine@officine.example")).contact_id == body["contact_id"]


def test_invalid_fields_answer_400_with_every_reason_in_the_readers_language(api: ResolvedTemplate) -> None:
    status, body = call(
        "POST",
        "/contacts",
        {"email": "not-an-email", "phone": "12", "language": "de", "account_owner": "nobody@example.org"},
        language="fr",
    )

    assert status == 400
    assert body["message"].startswith("le contact n'est pas valide : adresse e-mail invalide; ")
    assert {d["where"]: d["problem"] for d in body["details"]} == {
        "body.email": "adresse e-mail invalide",
        "body.phone": "numéro de téléphone invalide (trop court)",
        "body.language": "la langue doit être fr ou en",
        "body.account_owner": "aucun membre actif du personnel n'a l'adresse e-mail de ce responsable",
    }
    assert list(Contact.scan()) == []


def test_a_body_that_is_not_a_contact_answers_400(api: ResolvedTemplate) -> None:
    status, body = call("POST", "/contacts", {"email": "a@b.fr", "favourite_colour": "blue"})

    assert status == 400
    assert body["error"] == "invalid_input"


def test_an_email_already_known_in_another_case_is_a_409_naming_the_contact(api: ResolvedTemplate) -> None:
    first = add(email="julien.moreau@pharma.example")

    status, body = call("POST", "/contacts", {"email": "Julien.MOREAU@pharma.example"})

    assert status == 409
    assert body["details"] == {"contact_id": first["contact_id"]}


def test_an_edit_changes_the_fields_given_and_clears_those_sent_as_null(api: ResolvedTemplate) -> None:
    contact = add(email="a@pharma.example", phone="0612345678", company="Pharma", last_name="Alpha")

    status, body = call(
        "PATCH", f"/contacts/{contact['contact_id']}", {"version": 1, "phone": None, "last_name": "Bravo"}
    )

    assert status == 200, body
    assert (body["phone"], body["last_name"], body["company"], body["version"]) == (None, "Bravo", "Pharma", 2)
    stored = Contact.get(contact["contact_id"])
    assert stored.phone is None
    assert stored.name_sort.startswith("bravo")


def test_an_edit_made_on_an_old_version_is_a_409_and_changes_nothing(api: ResolvedTemplate) -> None:
    contact = add(email="a@pharma.example", company="Pharma")
    call("PATCH", f"/contacts/{contact['contact_id']}", {"version": 1, "company": "First edit"})

    status, body = call("PATCH", f"/contacts/{contact['contact_id']}", {"version": 1, "company": "Second edit"})

    assert status == 409
    assert "reload" in body["message"]
    assert Contact.get(contact["contact_id"]).company == "First edit"


def test_changing_the_email_moves_the_lookup_in_the_same_write(api: ResolvedTemplate) -> None:
    contact = add(email="old@pharma.example")

    status, body = call("PATCH", f"/contacts/{contact['contact_id']}", {"version": 1, "email": "New@Pharma.example"})

    assert status == 200, body
    assert body["email"] == "new@pharma.example"
    assert ContactEmail.get(email_hash("new@pharma.example")).contact_id == contact["contact_id"]
    with pytest.raises(ContactEmail.DoesNotExist):
        ContactEmail.get(email_hash("old@pharma.example"))


def test_changing_the_email_to_another_contacts_is_a_409_and_moves_nothing(api: ResolvedTemplate) -> None:
    mine = add(email="mine@pharma.example")
    theirs = add(email="theirs@pharma.example")

    status, body = call("PATCH", f"/contacts/{mine['contact_id']}", {"version": 1, "email": "theirs@pharma.example"})

    assert status == 409
    assert body["details"] == {"contact_id": theirs["contact_id"]}
    assert ContactEmail.get(email_hash("mine@pharma.example")).contact_id == mine["contact_id"]
    assert Contact.get(mine["contact_id"]).email == "mine@pharma.example"


def test_show_answers_the_contact_or_404(api: ResolvedTemplate) -> None:
    contact = add(email="a@pharma.example")

    assert call("GET", f"/contacts/{contact['contact_id']}")[1]["email"] == "a@pharma.example"
    assert call("GET", "/contacts/01JNOSUCHCONTACT0000000000")[0] == 404


def test_search_finds_by_exact_email_company_name_prefix_owner_and_segment(api: ResolvedTemplate) -> None:
    dupont = add(email="m.dupont@cabinet.example", first_name="Marie", last_name="Dupont", segment="doctor")
    dupre = add(email="j.dupre@pharma.example", first_name="Jean", last_name="Dupré", company="Pharmacie Centrale")
    other = add(email="x@hopital.example", last_name="Martin", segment="hospital", account_owner=OWNER)

    def ids(**query: str) -> list[str]:
        status, body = call("GET", "/contacts", query=query)
        assert status == 200, body
        return [c["contact_id"] for c in body["contacts"]]

    assert ids(q="M.Dupont@Cabinet.example") == [dupont["contact_id"]]
    assert ids(q="pharmacie centrale") == [dupre["contact_id"]]
    assert sorted(ids(q="dup")) == sorted([dupont["contact_id"], dupre["contact_id"]])
    assert ids(q="dupre j") == [dupre["contact_id"]]
    assert ids(owner=OWNER) == [other["contact_id"]]
    assert ids(segment="doctor") == [dupont["contact_id"]]
    assert ids(segment="general", q="dup") == [dupre["contact_id"]]
    assert ids(language="en") == []


def test_a_list_comes_in_pages_that_together_hold_every_contact_once(api: ResolvedTemplate) -> None:
    created = {add(email=f"p{n}@pharma.example", segment="pharmacy")["contact_id"] for n in range(7)}

    seen: list[str] = []
    cursor: str | None = None
    for _ in range(10):
        query = {"segment": "pharmacy", "limit": "3", **({"cursor": cursor} if cursor else {})}
        status, body = call("GET", "/contacts", query=query)
        assert status == 200, body
        assert len(body["contacts"]) <= 3
        seen += [c["contact_id"] for c in body["contacts"]]
        cursor = body["next_cursor"]
        if not cursor:
            break

    assert sorted(seen) == sorted(created)


def test_a_forged_cursor_answers_400(api: ResolvedTemplate) -> None:
    status, body = call("GET", "/contacts", query={"cursor": "not-a-cursor"})

    assert status == 400
    assert "cursor" in body["message"]


def test_a_caller_may_read_contacts_but_not_write_them(api: ResolvedTemplate) -> None:
    contact = add(email="a@pharma.example")

    assert call("GET", f"/contacts/{contact['contact_id']}", groups="[caller]")[0] == 200
    assert call("POST", "/contacts", {"email": "b@pharma.example"}, groups="[caller]")[0] == 403
    assert call("PATCH", f"/contacts/{contact['contact_id']}", {"version": 1}, groups="[caller]")[0] == 403
    assert call("POST", "/imports", groups="[caller]")[0] == 403


def test_starting_an_import_answers_a_presigned_upload_url_for_its_object(api: ResolvedTemplate) -> None:
    status, body = call("POST", "/imports")

    assert status == 201, body
    url = body["upload"]["url"]
    assert f"imports/{body['import_id']}.csv" in url
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url
    assert body["status"] == "waiting"
    report_status, report = call("GET", f"/imports/{body['import_id']}")
    assert (report_status, report["status"], report["counts"]["rows"]) == (200, "waiting", 0)
    assert call("GET", "/imports/01JNOSUCHIMPORT00000000000")[0] == 404


def test_the_imports_are_listed_newest_first_in_pages_for_managers_only(api: ResolvedTemplate) -> None:
    started = {call("POST", "/imports")[1]["import_id"] for _ in range(23)}

    pages = [call("GET", "/imports")[1]]
    while pages[-1]["next_cursor"]:
        pages.append(call("GET", "/imports", query={"cursor": pages[-1]["next_cursor"]})[1])

    listed = [item["import_id"] for page in pages for item in page["imports"]]
    assert len(pages[0]["imports"]) == 20
    assert started <= set(listed)
    assert len(listed) == len(set(listed))  # only imports, each once: never their rejected rows
    assert listed == sorted(listed, reverse=True)  # newest first (ULIDs)
    newest = pages[0]["imports"][0]
    assert (newest["status"], newest["uploaded_by"]) == ("waiting", "claire.martin@demo.closeloop.example")
    assert set(newest["counts"]) == {"rows", "created", "updated", "unchanged", "rejected", "suppressed"}
    assert call("GET", "/imports", groups="[caller]")[0] == 403
    assert call("GET", "/imports", query={"cursor": "not-a-cursor"})[0] == 400
