"""The staff directory through the staff API function: list, show, add, edit (version-checked),
deactivate, and the CSV import with its per-row report, behind the group checks."""

from __future__ import annotations

import base64
import json
from typing import Any
from urllib.parse import urlencode

import pytest

from closeloop.models import Staff
from closeloop.services.directory import add_staff
from closeloop_local.template import ResolvedTemplate
from tests.integration.imports_support import as_function
from tests.integration.test_staff_api import handler  # one resolver per process: routers bind to it
from tests.support import LambdaContext, load_event

ADMIN = "claire.martin@demo.closeloop.example"  # the token's email in events/http/me.json


@pytest.fixture
def api(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    as_function(stack, monkeypatch, "StaffApiFunction")
    add_staff(email=ADMIN, name="Claire Martin", groups={"manager", "admin"}, department="cx")
    return stack


def call(
    method: str,
    path: str,
    body: Any = None,
    *,
    query: dict[str, str] | None = None,
    groups: str = "[manager admin]",
    language: str = "en",
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    content_type: str = "text/csv",
) -> tuple[int, Any, dict[str, str]]:
    """An HTTP API event for a staff route, as API Gateway hands it over with a signed-in admin."""
    event = load_event("http/me.json")
    parts = path.strip("/").split("/")
    route = path if len(parts) == 1 or parts[1] == "imports" else "/directory/{staff_id}"
    event["routeKey"] = f"{method} {route}"
    event["rawPath"] = path
    event["rawQueryString"] = urlencode(query or {})
    event["queryStringParameters"] = query or None
    event["pathParameters"] = {"staff_id": parts[1]} if route.endswith("{staff_id}") else None
    event["requestContext"]["http"]["method"] = method
    event["requestContext"]["http"]["path"] = path
    event["requestContext"]["routeKey"] = event["routeKey"]
    event["requestContext"]["authorizer"]["jwt"]["claims"]["cognito:groups"] = groups
    event["headers"]["accept-language"] = language
    event["headers"].update(headers or {})
    if raw is not None:
        event["headers"]["content-type"] = content_type
        if content_type.startswith("text/"):
            event["body"] = raw.decode("utf-8", errors="replace")
        else:
            event["body"] = base64.b64encode(raw).decode()
            event["isBase64Encoded"] = True
    elif body is not None:
        event["body"] = json.dumps(body)
        event["headers"]["content-type"] = "application/json"
    result = handler(event, LambdaContext())
    answer = json.loads(result["body"]) if result.get("body") else None
    return result["statusCode"], answer, result.get("headers") or {}


def add(**fields: Any) -> dict[str, Any]:
    status, body, _ = call("POST", "/directory", fields)
    assert status == 201, body
    return body  # type: ignore[no-any-return]


# ---------------------------------------------------------------------- add, show, list


def test_an_admin_adds_a_staff_member_whose_fields_are_normalised(api: ResolvedTemplate) -> None:
    status, body, headers = call(
        "POST",
        "/directory",
        {
            "name": "  Hugo   Bernard ",
            "email": " Hugo.Bernard@Demo.Closeloop.Example ",
            "phone": "06 12 34 56 78",
            "language": "English",
            "department": "Service Client",
            "groups": ["appelant", "manager"],
            "capacity": 15,
        },
    )

    assert status == 201, body
    assert headers["Location"] == f"/directory/{body['staff_id']}"
    assert headers["ETag"] == '"1"'
    stored = Staff.get(body["staff_id"])
    assert stored.name == "Hugo Bernard"
    assert stored.email == "hugo.bernard@demo.closeloop.example"
    assert stored.phone == "+33612345678"
    assert stored.language == "en"
    assert stored.department == "service-client"
    assert stored.groups == {"caller", "manager"}
    assert stored.capacity == 15
    assert stored.active is True
    assert stored.pool == "caller"
    assert stored.deactivated_at is None


def test_an_email_already_in_the_directory_is_a_409(api: ResolvedTemplate) -> None:
    first = add(name="Hugo Bernard", email="hugo.bernard@demo.closeloop.example", groups=["caller"])

    status, body, _ = call("POST", "/directory", {"name": "Hugo B.", "email": "HUGO.BERNARD@demo.closeloop.example"})

    assert status == 409
    assert body["details"] == {"staff_id": first["staff_id"]}
    assert "already" in body["message"]


def test_bad_fields_are_a_400_naming_each_one_in_french(api: ResolvedTemplate) -> None:
    status, body, _ = call(
        "POST",
        "/directory",
        {"name": " ", "email": "not-an-email", "groups": ["chef"], "language": "de"},
        language="fr",
    )

    assert status == 400
    assert {detail["where"] for detail in body["details"]} == {
        "body.name",
        "body.email",
        "body.groups",
        "body.language",
    }
    assert "groupe inconnu chef" in body["message"]
    assert Staff.find_by_email("not-an-email") is None


def test_a_caller_gets_403_on_the_directory_routes_and_a_manager_reads_but_does_not_write(
    api: ResolvedTemplate,
) -> None:
    hugo = add(name="Hugo Bernard", email="hugo.bernard@demo.closeloop.example", groups=["caller"])

    assert call("POST", "/directory", {"name": "X", "email": "x@demo.closeloop.example"}, groups="[caller]")[0] == 403
    assert call("GET", "/directory", groups="[caller]")[0] == 403
    assert call("GET", f"/directory/{hugo['staff_id']}", groups="[caller]")[0] == 403
    assert call("GET", "/directory", groups="[manager]")[0] == 200
    assert call("PATCH", f"/directory/{hugo['staff_id']}", {"version": 1, "capacity": 3}, groups="[manager]")[0] == 403
    assert call("POST", "/directory/imports", raw=b"nom;courriel\nA;a@x.example\n", groups="[manager]")[0] == 403
    assert Staff.get(hugo["staff_id"]).capacity == 20


def test_the_list_filters_by_state_group_and_department(api: ResolvedTemplate) -> None:
    add(name="Hugo Bernard", email="hugo@demo.closeloop.example", groups=["caller"], department="ventes")
    add(name="Anne Roy", email="anne@demo.closeloop.example", groups=["caller"], department="qualite", active=False)
    add(name="Bea Durand", email="bea@demo.closeloop.example", groups=["manager"], department="ventes")

    def names(**query: str) -> list[str]:
        status, body, _ = call("GET", "/directory", query=query, groups="[manager]")
        assert status == 200, body
        return [member["name"] for member in body["staff"]]

    assert names() == ["Anne Roy", "Bea Durand", "Claire Martin", "Hugo Bernard"]
    assert names(active="true", group="caller") == ["Hugo Bernard"]
    assert names(active="false") == ["Anne Roy"]
    assert names(department="ventes") == ["Bea Durand", "Hugo Bernard"]
    assert names(department="Ventes") == ["Bea Durand", "Hugo Bernard"]
    assert call("GET", "/directory", query={"group": "boss"}, groups="[manager]")[0] == 400


def test_show_answers_the_record_and_404_for_an_unknown_id(api: ResolvedTemplate) -> None:
    hugo = add(name="Hugo Bernard", email="hugo@demo.closeloop.example", groups=["caller"])

    status, body, headers = call("GET", f"/directory/{hugo['staff_id']}", groups="[manager]")
    assert status == 200
    assert body["email"] == "hugo@demo.closeloop.example"
    assert body["open_cases"] == 0
    assert headers["ETag"] == '"1"'
    assert call("GET", "/directory/01JNOSUCHSTAFF000000000000", groups="[manager]")[0] == 404


# ---------------------------------------------------------------------- edit, conflicts, deactivation


def test_an_edit_with_the_version_read_lands_and_a_stale_one_is_a_409(api: ResolvedTemplate) -> None:
    hugo = add(name="Hugo Bernard", email="hugo@demo.closeloop.example", groups=["caller"])
    path = f"/directory/{hugo['staff_id']}"

    status, body, _ = call("PATCH", path, {"version": 1, "capacity": 5, "groups": ["caller", "manager"]})
    assert status == 200, body
    assert body["version"] == 2
    assert body["capacity"] == 5

    stale, answer, _ = call("PATCH", path, {"version": 1, "capacity": 9})
    assert stale == 409
    assert answer["details"] == {"version": 2}
    assert "reload" in answer["message"]
    assert Staff.get(hugo["staff_id"]).capacity == 5


def test_the_version_may_come_as_if_match_and_is_required(api: ResolvedTemplate) -> None:
    hugo = add(name="Hugo Bernard", email="hugo@demo.closeloop.example", groups=["caller"])
    path = f"/directory/{hugo['staff_id']}"

    assert call("PATCH", path, {"capacity": 5})[0] == 400
    status, body, _ = call("PATCH", path, {"capacity": 5}, headers={"if-match": '"1"'})

    assert status == 200, body
    assert body["capacity"] == 5


def test_deactivating_leaves_the_caller_pool_and_dates_the_departure_reactivating_undoes_it(
    api: ResolvedTemplate,
) -> None:
    hugo = add(name="Hugo Bernard", email="hugo@demo.closeloop.example", groups=["caller"])
    path = f"/directory/{hugo['staff_id']}"

    status, body, _ = call("PATCH", path, {"version": 1, "active": False})
    assert status == 200, body
    stored = Staff.get(hugo["staff_id"])
    assert stored.active is False
    assert stored.pool is None
    assert stored.deactivated_at is not None
    assert body["deactivated_at"] is not None

    call("PATCH", path, {"version": 2, "active": True})
    back = Staff.get(hugo["staff_id"])
    assert back.pool == "caller"
    assert back.deactivated_at is None


def test_an_edit_never_writes_open_cases_which_the_counters_own(api: ResolvedTemplate) -> None:
    hugo = add(name="Hugo Bernard", email="hugo@demo.closeloop.example", groups=["caller"])
    Staff(hugo["staff_id"]).update(actions=[Staff.open_cases.add(3)], add_version_condition=False)
    _, fresh, _ = call("GET", f"/directory/{hugo['staff_id']}")

    call("PATCH", f"/directory/{hugo['staff_id']}", {"version": fresh["version"], "capacity": 4})

    assert Staff.get(hugo["staff_id"]).open_cases == 3


def test_an_admin_cannot_deactivate_themself(api: ResolvedTemplate) -> None:
    me = Staff.find_by_email(ADMIN)
    assert me is not None

    status, body, _ = call("PATCH", f"/directory/{me.staff_id}", {"version": int(me.version), "active": False})

    assert status == 400
    assert "another admin" in body["message"]
    assert Staff.get(me.staff_id).active is True


def test_an_email_change_to_someone_elses_email_is_a_409(api: ResolvedTemplate) -> None:
    hugo = add(name="Hugo Bernard", email="hugo@demo.closeloop.example", groups=["caller"])

    status, _, _ = call("PATCH", f"/directory/{hugo['staff_id']}", {"version": 1, "email": ADMIN})

    assert status == 409
    assert Staff.get(hugo["staff_id"]).email == "hugo@demo.closeloop.example"


# ---------------------------------------------------------------------- import

STAFF_CSV = (
    "Nom;Courriel;Téléphone;Langue;Département;Groupes;Actif;Capacité\n"
    "Hugo Bernard;Hugo@demo.closeloop.example;06 12 34 56 78;fr;Ventes;appelant;oui;10\n"
    "Anne Roy;anne@demo.closeloop.example;;en;Qualité;appelant, manager;non;\n"
    ";nobody;12;de;;chef;peut-être;-3\n"
    "Hugo Again;hugo@demo.closeloop.example;;;;;;\n"
    "Claire Martin;claire.martin@demo.closeloop.example;;fr;cx;manager admin;oui;20\n"
)


def test_an_import_upserts_good_rows_and_reports_each_bad_row_with_its_line_and_reasons(
    api: ResolvedTemplate,
) -> None:
    status, report, _ = call(
        "POST", "/directory/imports", raw=STAFF_CSV.encode("cp1252"), content_type="application/octet-stream"
    )

    assert status == 200, report
    assert report["encoding"] == "cp1252"
    assert (report["rows"], report["created"], report["updated"], report["unchanged"], report["rejected"]) == (
        5,
        2,
        0,
        1,
        2,
    )
    by_line = {row["line"]: row for row in report["rejected_rows"]}
    assert set(by_line) == {4, 5}
    assert {p["reason"] for p in by_line[4]["problems"]} == {
        "missing_name",
        "invalid_email",
        "invalid_phone",
        "invalid_language",
        "invalid_groups",
        "invalid_active",
        "invalid_capacity",
    }
    assert by_line[5]["reason"] == "duplicate"
    assert by_line[5]["problems"][0]["message"] == "duplicate of line 2"
    hugo = Staff.find_by_email("hugo@demo.closeloop.example")
    anne = Staff.find_by_email("anne@demo.closeloop.example")
    assert hugo is not None
    assert anne is not None
    assert (hugo.department, hugo.groups, hugo.capacity, hugo.pool) == ("ventes", {"caller"}, 10, "caller")
    assert (anne.language, anne.department, anne.active, anne.pool) == ("en", "qualite", False, None)
    assert anne.deactivated_at is not None


def test_importing_the_same_file_again_changes_nothing_and_a_changed_row_updates(api: ResolvedTemplate) -> None:
    data = STAFF_CSV.encode("utf-8-sig")
    call("POST", "/directory/imports", raw=data)

    _, again, _ = call("POST", "/directory/imports", raw=data)
    _, changed, _ = call(
        "POST", "/directory/imports", raw=b"email,name,capacity\nhugo@demo.closeloop.example,Hugo Bernard,12\n"
    )

    assert (again["created"], again["updated"], again["unchanged"]) == (0, 0, 3)
    assert (changed["created"], changed["updated"]) == (0, 1)
    hugo = Staff.find_by_email("hugo@demo.closeloop.example")
    assert hugo is not None
    assert hugo.capacity == 12
    assert hugo.groups == {"caller"}  # a column absent from the file leaves the field as it is


def test_a_file_without_an_email_column_or_not_csv_is_a_400_in_the_readers_language(api: ResolvedTemplate) -> None:
    status, body, _ = call("POST", "/directory/imports", raw=b"nom;poste\nA;B\n", language="fr")
    assert status == 400
    assert "colonne obligatoire absente : email" in body["message"]

    wrong, answer, _ = call("POST", "/directory/imports", {"csv": "nom;courriel"})
    assert wrong == 400
    assert "text/csv" in answer["message"]
