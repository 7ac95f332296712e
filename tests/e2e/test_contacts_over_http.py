"""Contacts and imports through the local runtime: the HTTP API, S3's notification, the command line."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from closeloop_cli.main import app
from closeloop_local.runtime import Runtime
from tests.e2e.conftest import token_for

CLAIRE = "claire.martin@demo.closeloop.example"  # caller and manager
HUGO = "hugo.bernard@demo.closeloop.example"  # caller only

FRENCH_EXCEL = (
    "Courriel;Prénom;Nom;Téléphone;Société;Segment;Langue;Responsable;Poids\r\n"
    "helene.faure@pharmacie-faure.example;Hélène;Faure;06 11 22 33 44;Pharmacie Faure;pharmacy;Français;"
    f"{HUGO};1,5\r\n"
    'Cedric.Andre@clinique-andre.example;Cédric;André;01 42 00 00 01;"Clinique André; site Nord";hospital;FR;;2\r\n'
    "pas-une-adresse;Zoé;Martin;;;;;;\r\n"
    "HELENE.FAURE@pharmacie-faure.example;Hélène;Faure bis;;;;;;\r\n"
    "b.noel@cabinet-noel.example;Bruno;Noël;12;;doctor;fr;;\r\n"
)


def bearer(http: httpx.Client, email: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(http, email)}"}


@pytest.fixture
def signed_in_cli(system: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    """The command line, signed in as Claire (manager) to the running system, in French."""
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("LANG", "fr_FR.UTF-8")
    runner = CliRunner()
    result = runner.invoke(app, ["login", "--email", CLAIRE, "--api", system.url])
    assert result.exit_code == 0, result.output
    return runner


def test_closeloop_contacts_import_of_a_french_excel_file_shows_progress_and_the_report(
    system: Runtime, signed_in_cli: CliRunner, http: httpx.Client, tmp_path: Path
) -> None:
    # Given a CSV as Excel saves it in France: Windows-1252, semicolons, decimal commas
    file = tmp_path / "contacts.csv"
    file.write_bytes(FRENCH_EXCEL.encode("cp1252"))

    # When a manager imports it with the command line
    result = signed_in_cli.invoke(app, ["contacts", "import", str(file), "--api", system.url], terminal_width=200)

    # Then the report shows the counts and every rejected row, with its line and why, in French
    assert result.exit_code == 0, result.output
    assert "Import terminé" in result.output
    assert "créés" in result.output
    assert "adresse e-mail invalide" in result.output
    assert "doublon de la ligne 2" in result.output
    assert "numéro de téléphone invalide" in result.output
    assert "H***@p***.example" in result.output  # the duplicate, masked as the file writes it
    # and the good rows are contacts, as the API shows them
    headers = bearer(http, CLAIRE)
    found = http.get("/contacts", params={"q": "helene.faure@pharmacie-faure.example"}, headers=headers).json()
    (helene,) = found["contacts"]
    assert helene["first_name"] == "Hélène"
    assert helene["phone"] == "+33611223344"
    assert helene["weight"] == 1.5
    assert helene["language"] == "fr"
    assert helene["account_owner"] == HUGO
    (cedric,) = http.get("/contacts", params={"q": "andre ced"}, headers=headers).json()["contacts"]
    assert cedric["company"] == "Clinique André; site Nord"
    assert cedric["email"] == "cedric.andre@clinique-andre.example"
    # and the import heads the list of imports, with its counts
    listed = signed_in_cli.invoke(app, ["contacts", "imports", "--api", system.url], terminal_width=200)
    assert listed.exit_code == 0, listed.output
    newest = http.get("/imports", headers=headers).json()["imports"][0]
    assert newest["status"] == "done"
    assert newest["import_id"] in listed.output
    assert "Import terminé" in listed.output
    assert f"{newest['counts']['created']}" in listed.output


def test_an_uploaded_file_is_imported_once_even_when_uploaded_twice_to_its_url(
    system: Runtime, http: httpx.Client
) -> None:
    # Given an import started through the API, whose upload URL points at the local S3
    headers = bearer(http, CLAIRE)
    started = http.post("/imports", headers=headers)
    assert started.status_code == 201, started.text
    url = started.json()["upload"]["url"]
    assert url.startswith(system.moto_endpoint)
    data = b"email,last_name\nonce.only@example.org,Once\n"

    # When the file is PUT twice (S3 notifies twice)
    assert httpx.put(url, content=data).status_code == 200
    assert system.event_sources.drain(timeout=30)
    assert httpx.put(url, content=data).status_code == 200
    assert system.event_sources.drain(timeout=30)

    # Then the report counts the file once
    report = http.get(f"/imports/{started.json()['import_id']}", headers=headers).json()
    assert report["status"] == "done"
    assert report["counts"] == {"rows": 1, "created": 1, "updated": 0, "unchanged": 0, "rejected": 0, "suppressed": 0}


def test_a_manager_adds_edits_and_finds_a_contact_and_a_stale_edit_gets_409(http: httpx.Client) -> None:
    headers = bearer(http, CLAIRE)

    created = http.post(
        "/contacts",
        json={
            "email": "Iris.Lemoine@officine-lemoine.example",
            "first_name": "Iris",
            "last_name": "Lemoine",
            "phone": "04 72 00 00 07",
            "company": "Officine Lemoine",
            "segment": "Pharmacy",
            "weight": "0,75",
        },
        headers=headers,
    )
    assert created.status_code == 201, created.text
    contact = created.json()
    assert (contact["email"], contact["phone"], contact["segment"], contact["weight"]) == (
        "iris.lemoine@officine-lemoine.example",
        "+33472000007",
        "pharmacy",
        0.75,
    )

    edited = http.patch(
        f"/contacts/{contact['contact_id']}", json={"version": contact["version"], "phone": None}, headers=headers
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["phone"] is None

    stale = http.patch(
        f"/contacts/{contact['contact_id']}", json={"version": contact["version"], "company": "X"}, headers=headers
    )
    assert stale.status_code == 409
    assert http.get(f"/contacts/{contact['contact_id']}", headers=headers).json()["company"] == "Officine Lemoine"

    by_company = http.get("/contacts", params={"q": "officine lemoine"}, headers=headers).json()["contacts"]
    assert [c["contact_id"] for c in by_company] == [contact["contact_id"]]


def test_a_caller_reads_contacts_but_may_not_add_one(http: httpx.Client) -> None:
    headers = bearer(http, HUGO)

    assert http.get("/contacts", params={"segment": "pharmacy"}, headers=headers).status_code == 200
    refused = http.post("/contacts", json={"email": "someone@example.org"}, headers=headers)

    assert refused.status_code == 403
    assert "manager" in refused.json()["message"]
    assert http.post("/imports", headers=headers).status_code == 403
