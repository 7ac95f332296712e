"""The staff directory through the local runtime: `closeloop staff import` as an admin, the
Staff stream pushing each person to the Cognito user pool in moto, sign-in from the directory."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from typer.testing import CliRunner

from closeloop_cli.main import app
from closeloop_local.runtime import Runtime
from tests.e2e.conftest import token_for

ADMIN = "admin@demo.closeloop.example"  # admin and manager
HUGO = "hugo.bernard@demo.closeloop.example"  # caller only
NEW = "lea.moreau@demo.closeloop.example"

STAFF_CSV = (
    "Prénom;Nom;Courriel;Téléphone;Langue;Département;Groupes;Actif;Capacité\r\n"
    f"Léa;Moreau;{NEW};06 98 76 54 32;Français;Qualité;appelant, manager;oui;8\r\n"
    "Zoé;Martin;pas-une-adresse;;;;chef;;\r\n"
)

T = TypeVar("T")


def eventually(probe: Callable[[], T | None], seconds: float = 60) -> T:
    """The first truthy answer of `probe` (a stream consumer acts a moment after the write)."""
    deadline = time.monotonic() + seconds
    while True:
        found = probe()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError("nothing happened in time")
        time.sleep(0.3)


def cognito_user(system: Runtime, email: str) -> dict[str, Any] | None:
    cognito = system.client("cognito-idp")
    pool = system.template.refs["UserPool"]
    try:
        user: dict[str, Any] = cognito.admin_get_user(UserPoolId=pool, Username=email)
    except cognito.exceptions.UserNotFoundException:
        return None
    groups = cognito.admin_list_groups_for_user(UserPoolId=pool, Username=user["Username"])["Groups"]
    user["groups"] = sorted(group["GroupName"] for group in groups)
    return user


@pytest.fixture
def admin_cli(system: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The command line, signed in as the demo admin, in French."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    runner = CliRunner()
    result = runner.invoke(app, ["login", "--email", ADMIN, "--api", system.url])
    assert result.exit_code == 0, result.output
    return runner


def test_a_staff_import_signs_the_new_person_up_and_a_deactivation_shuts_them_out(
    system: Runtime, admin_cli: CliRunner, http: httpx.Client, tmp_path: Path
) -> None:
    # Given the HR export as Excel saves it in France (Windows-1252, semicolons)
    file = tmp_path / "personnel.csv"
    file.write_bytes(STAFF_CSV.encode("cp1252"))

    # When an admin imports it
    result = admin_cli.invoke(app, ["staff", "import", str(file), "--api", system.url], terminal_width=200)

    # Then the report names the bad row, in French, and the command says rows were rejected
    assert result.exit_code == 1, result.output
    assert "Import du personnel terminé" in result.output
    assert "groupe inconnu chef" in result.output
    assert "adresse e-mail invalide" in result.output
    # the new person signs in, with the groups of the directory
    token = token_for(http, NEW)
    me = http.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200, me.text
    assert (me.json()["name"], me.json()["groups"]) == ("Léa Moreau", ["caller", "manager"])
    # and staff_sync made their Cognito user, in the same groups
    user = eventually(lambda: cognito_user(system, NEW))
    assert user["Enabled"] is True
    assert user["groups"] == ["caller", "manager"]

    # When the admin records their departure
    result = admin_cli.invoke(app, ["staff", "deactivate", NEW, "--api", system.url], terminal_width=200)
    assert result.exit_code == 0, result.output

    # Then they can no longer sign in, and their Cognito user is disabled
    assert http.post("/_local/login", json={"email": NEW}).status_code == 403
    eventually(lambda: (cognito_user(system, NEW) or {}).get("Enabled") is False)


def test_the_demo_staff_seeded_at_start_have_their_cognito_users_and_groups(system: Runtime) -> None:
    admin = eventually(lambda: cognito_user(system, ADMIN))
    hugo = eventually(lambda: cognito_user(system, HUGO))

    assert admin["groups"] == ["admin", "manager"]
    assert hugo["groups"] == ["caller"]
    assert {item["Name"]: item["Value"] for item in hugo["UserAttributes"]}["name"] == "Hugo Bernard"


def test_a_caller_may_not_read_or_change_the_directory(http: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {token_for(http, HUGO)}"}

    assert http.get("/directory", headers=headers).status_code == 403
    added = http.post("/directory", headers=headers, json={"name": "X", "email": "x@demo.closeloop.example"})
    assert added.status_code == 403
    imported = http.post("/directory/imports", headers={**headers, "Content-Type": "text/csv"}, content=b"nom;email\n")
    assert imported.status_code == 403


def test_an_admin_adds_a_staff_member_over_http_and_a_stale_edit_gets_409(http: httpx.Client) -> None:
    headers = {"Authorization": f"Bearer {token_for(http, ADMIN)}"}
    added = http.post(
        "/directory",
        headers=headers,
        json={"name": "Paul Petit", "email": "paul.petit@demo.closeloop.example", "groups": ["caller"]},
    )
    assert added.status_code == 201, added.text
    path = added.headers["location"]

    changed = http.patch(path, headers={**headers, "If-Match": added.headers["etag"]}, json={"capacity": 4})
    stale = http.patch(path, headers={**headers, "If-Match": added.headers["etag"]}, json={"capacity": 6})

    assert changed.status_code == 200, changed.text
    assert stale.status_code == 409
    assert http.get(path, headers=headers).json()["capacity"] == 4
