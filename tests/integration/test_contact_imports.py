"""Contact imports against moto: every accepted form of file, every bad one, re-imports, retries."""

from __future__ import annotations

import codecs
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.client import BaseClient

from closeloop.models import Contact, Import, Suppression
from closeloop.secrets import email_hash
from closeloop.services.directory import add_staff
from closeloop.services.imports import import_report, run_import
from closeloop.settings import get_settings
from closeloop_local.template import ResolvedTemplate
from tests.integration.imports_support import as_function, contact_by_email, import_file, run, upload

OWNER = "hugo.bernard@demo.closeloop.example"

FRENCH_EXCEL = (
    "Courriel;Prénom;Nom;Téléphone;Société;Segment;Langue;Responsable;Poids\r\n"
    "Helene.Faure@Pharmacie-Faure.example;Hélène;Faure;06 11 22 33 44;Pharmacie Faure;Pharmacie;Français;"
    f"{OWNER};1,5\r\n"
    'c.andre@clinique-andre.example;Cédric;André;01 42 00 00 01;"Clinique André; site Nord";hospital;FR;;2\r\n'
    "j.noel@cabinet-noel.example;Jérôme;Noël;;;;;;\r\n"
)


@pytest.fixture
def importer(stack: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch) -> ResolvedTemplate:
    """This process as the import function, with one account owner in the staff directory."""
    as_function(stack, monkeypatch, "ContactImportFunction")
    add_staff(email=OWNER, name="Hugo Bernard", groups={"caller"})
    return stack


def report(import_id: str, language: str = "en") -> dict[str, Any]:
    return import_report(import_id, language=language)  # type: ignore[arg-type]


def rejected(import_id: str, language: str = "en") -> list[tuple[int, str]]:
    return [(row["line"], row["message"]) for row in report(import_id, language)["rejected_rows"]]


# ------------------------------------------------------------------ accepted files


def test_a_french_excel_file_in_cp1252_with_semicolons_and_decimal_commas_lands(importer: ResolvedTemplate) -> None:
    import_id = import_file(importer, FRENCH_EXCEL.encode("cp1252"))

    answer = report(import_id)
    assert answer["status"] == "done"
    assert answer["counts"] == {"rows": 3, "created": 3, "updated": 0, "unchanged": 0, "rejected": 0, "suppressed": 0}
    assert answer["file"]["encoding"] == "cp1252"
    assert answer["file"]["separator"] == ";"
    helene = contact_by_email("helene.faure@pharmacie-faure.example")
    assert helene is not None
    assert (helene.first_name, helene.last_name, helene.phone, helene.company) == (
        "Hélène",
        "Faure",
        "+33611223344",
        "Pharmacie Faure",
    )
    assert (helene.segment, helene.language, helene.account_owner, helene.weight) == ("pharmacie", "fr", OWNER, 1.5)
    assert (helene.import_id, helene.import_line, helene.name_prefix) == (import_id, 2, "fa")
    cedric = contact_by_email("c.andre@clinique-andre.example")
    assert cedric is not None
    assert cedric.company == "Clinique André; site Nord"
    assert cedric.weight == 2
    jerome = contact_by_email("j.noel@cabinet-noel.example")
    assert jerome is not None
    assert (jerome.segment, jerome.language, jerome.weight, jerome.phone) == ("general", "fr", 1, None)


@pytest.mark.parametrize("bom", [True, False], ids=["with BOM", "without BOM"])
def test_a_utf8_file_with_commas_english_headers_and_quoted_fields_lands(importer: ResolvedTemplate, bom: bool) -> None:
    text = (
        "First name,Last name,E-mail,Company,Phone,Language,Weight,Notes\n"
        'Ólöf,"O\'Neil, ""Junior""",olof@example.is,"Reykjavik Health,\nNorth",+354 611 1234,en,0.25,likes tea\n'
    )
    data = (codecs.BOM_UTF8 if bom else b"") + text.encode("utf-8")

    import_id = import_file(importer, data)

    answer = report(import_id)
    assert answer["counts"]["created"] == 1
    assert answer["file"]["encoding"] == ("utf-8-sig" if bom else "utf-8")
    assert answer["file"]["ignored_columns"] == ["Notes"]
    olof = contact_by_email("olof@example.is")
    assert olof is not None
    assert (olof.first_name, olof.last_name, olof.company) == ("Ólöf", 'O\'Neil, "Junior"', "Reykjavik Health, North")
    assert (olof.phone, olof.language, olof.weight) == ("+3546111234", "en", 0.25)


# ------------------------------------------------------------------ importing again


class WriteCounter:
    """Counts the write calls that reach each table, wherever they come from (PynamoDB included)."""

    WRITES = ("PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems")

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.tables: list[str] = []
        original = BaseClient._make_api_call

        def counting(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
            if operation in self.WRITES:
                self.tables += [params.get("TableName", ""), *params.get("RequestItems", {})]
            return original(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", counting)


def test_importing_the_same_file_again_writes_no_contact_and_gives_the_same_report(
    importer: ResolvedTemplate, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = (FRENCH_EXCEL + "pas-une-adresse;X;Y;;;;;;\r\n").encode("cp1252")
    first = import_file(importer, data)
    versions = {c.email: c.version for c in Contact.scan()}
    writes = WriteCounter(monkeypatch)

    second = import_file(importer, data)

    assert report(second)["counts"] == {
        "rows": 4,
        "created": 0,
        "updated": 0,
        "unchanged": 3,
        "rejected": 1,
        "suppressed": 0,
    }
    assert rejected(second) == rejected(first) == [(5, "not a valid email address")]
    assert get_settings().contacts_table not in writes.tables
    assert get_settings().contact_emails_table not in writes.tables
    assert {c.email: c.version for c in Contact.scan()} == versions


def test_a_changed_cell_updates_that_field_only_and_an_empty_cell_keeps_what_is_stored(
    importer: ResolvedTemplate,
) -> None:
    import_file(importer, FRENCH_EXCEL.encode("cp1252"))
    before = contact_by_email("helene.faure@pharmacie-faure.example")
    assert before is not None

    changed = "Courriel;Téléphone;Société\r\nhelene.faure@pharmacie-faure.example;+33 6 99 88 77 66;\r\n"
    import_id = import_file(importer, changed.encode("cp1252"))

    assert report(import_id)["counts"]["updated"] == 1
    after = contact_by_email("helene.faure@pharmacie-faure.example")
    assert after is not None
    assert after.phone == "+33699887766"
    assert after.company == "Pharmacie Faure"
    assert (after.first_name, after.weight, after.account_owner) == ("Hélène", 1.5, OWNER)
    assert after.version == before.version + 1
    assert after.import_id == import_id


# ------------------------------------------------------------------ bad rows


def test_bad_rows_are_reported_with_line_and_reason_and_the_good_rows_land(importer: ResolvedTemplate) -> None:
    data = (
        "email;first name;phone;language;weight;account owner;segment\n"
        "ok.one@example.fr;One;;;;;\n"
        "not-an-email;Two;;;;;\n"
        "ok.three@example.fr;Three;12;;;;\n"
        "ok.four@example.fr;Four;;de;;;\n"
        "ok.five@example.fr;Five;;;0;;\n"
        "ok.six@example.fr;Six;;;;nobody@demo.closeloop.example;\n"
        "OK.ONE@example.fr;One again;;;;;\n"
        "ok.eight@example.fr;Eight;;;abc;;\n"
        ";Nine;;;;;\n"
        "ok.ten@example.fr;Ten;;;;;#!?\n"
        "ok.eleven@example.fr;Eleven;+33 1 23 45 67 89;en;1,25;;Key accounts\n"
    )

    import_id = import_file(importer, data.encode())

    assert report(import_id)["counts"] == {
        "rows": 11,
        "created": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 9,
        "suppressed": 0,
    }
    assert rejected(import_id) == [
        (3, "not a valid email address"),
        (4, "not a valid phone number (too short)"),
        (5, "the language must be fr or en"),
        (6, "the weight must be a number above 0 and at most 1000"),
        (7, "no active staff member has this account owner's email address"),
        (8, "duplicate of line 2"),
        (9, "the weight must be a number above 0 and at most 1000"),
        (10, "no email address"),
        (11, "a segment is 1 to 40 letters, digits, - or _"),
    ]
    eleven = contact_by_email("ok.eleven@example.fr")
    assert eleven is not None
    assert (eleven.segment, eleven.weight, eleven.phone) == ("key-accounts", 1.25, "+33123456789")
    assert contact_by_email("ok.one@example.fr").first_name == "One"  # type: ignore[union-attr]


def test_the_report_reads_in_french_and_masks_the_email(importer: ResolvedTemplate) -> None:
    data = "Courriel;Téléphone\nmarie.curie@institut.example;06\nMarie.Curie@Institut.example;\n"

    import_id = import_file(importer, data.encode())

    rows = report(import_id, "fr")["rejected_rows"]
    assert [(r["line"], r["column"], r["message"], r["email"]) for r in rows] == [
        (2, "Téléphone", "numéro de téléphone invalide (trop court)", "m***@i***.example"),
        (3, "Courriel", "doublon de la ligne 2", "M***@I***.example"),
    ]


def test_a_row_with_more_cells_than_columns_and_unbalanced_quotes_are_reported_and_the_import_goes_on(
    importer: ResolvedTemplate,
) -> None:
    data = 'email,company\none@example.org,Alpha, Beta\ntwo@example.org,"Never closed\nthree@example.org,Gamma\n'

    import_id = import_file(importer, data.encode())

    assert [line for line, _ in rejected(import_id)] == [2, 3]
    assert "more cells than columns" in rejected(import_id)[0][1]
    assert "lines 3 to 4 skipped" in rejected(import_id)[1][1]


def test_a_report_with_many_rejected_rows_comes_in_pages(importer: ResolvedTemplate) -> None:
    data = "email\n" + "".join(f"bad-{n}\n" for n in range(150))

    import_id = import_file(importer, data.encode())

    first = report(import_id)
    second = import_report(import_id, cursor=first["next_cursor"])
    lines = [r["line"] for r in first["rejected_rows"]] + [r["line"] for r in second["rejected_rows"]]
    assert lines == list(range(2, 152))
    assert second["next_cursor"] is None


# ------------------------------------------------------------------ bad files


@pytest.mark.parametrize(
    ("data", "code", "words"),
    [
        (b"", "empty", "the file is empty"),
        (b"\r\n\r\n", "empty", "the file is empty"),
        (b"email;name\r\n", "no_rows", "header line but no contact"),
        ("Nom;Prénom\nDupont;Jean\n".encode("cp1252"), "missing_columns", "email (columns found: Nom, Prénom)"),
        (b"email,Mail\na@b.fr,a@b.fr\n", "duplicate_columns", "email / Mail"),
        (b"PK\x03\x04\x14\x00\x06\x00" + bytes(range(256)) * 4, "spreadsheet", "Save as > CSV"),
        (bytes(range(256)) * 40, "binary", "not a text file"),
    ],
    ids=["empty", "blank lines", "header only", "no email column", "two email columns", "xlsx", "binary"],
)
def test_a_file_that_cannot_be_imported_fails_with_a_report_that_says_why(
    importer: ResolvedTemplate, data: bytes, code: str, words: str
) -> None:
    import_id = import_file(importer, data)

    answer = report(import_id)
    assert answer["status"] == "failed"
    assert answer["error"]["code"] == code
    assert words in answer["error"]["message"]
    assert list(Contact.scan()) == []


def test_a_failed_file_says_why_in_french_too(importer: ResolvedTemplate) -> None:
    import_id = import_file(importer, "Nom;Prénom\nDupont;Jean\n".encode("cp1252"))

    assert report(import_id, "fr")["error"]["message"] == (
        "colonne obligatoire absente : email (colonnes trouvées : Nom, Prénom)"
    )


# ------------------------------------------------------------------ suppressions, idempotency, resuming


def test_a_suppressed_address_is_imported_but_stays_suppressed(importer: ResolvedTemplate) -> None:
    hashed = email_hash("j.noel@cabinet-noel.example")
    Suppression(hashed, reason="unsubscribe", source="link").save()

    import_id = import_file(importer, FRENCH_EXCEL.encode("cp1252"))

    assert report(import_id)["counts"]["suppressed"] == 1
    assert contact_by_email("j.noel@cabinet-noel.example") is not None
    assert Suppression.get(hashed).reason == "unsubscribe"


def test_a_second_notification_for_the_same_upload_imports_nothing_twice(importer: ResolvedTemplate) -> None:
    import_id, event = upload(FRENCH_EXCEL.encode("cp1252"))

    first = run(event)
    second = run(event)

    assert list(first.values()) == ["done"]
    assert list(second.values()) == ["skipped"]
    assert report(import_id)["counts"]["rows"] == 3
    assert report(import_id)["counts"]["created"] == 3


def _contacts_file(count: int) -> bytes:
    return ("email;nom\n" + "".join(f"person{n}@example.org;Person {n}\n" for n in range(count))).encode()


def test_an_import_that_dies_midway_is_resumed_by_the_retry_without_counting_twice(importer: ResolvedTemplate) -> None:
    # Given an upload whose first run dies after about 800 rows (the connection drops)
    notes = "x" * 70  # long rows: the first run gets past the first 64 KiB before it dies
    data = ("email;nom;notes\n" + "".join(f"person{n}@example.org;Person {n};{notes}\n" for n in range(1000))).encode()
    data += b"person7@example.org;Seven again;\n"
    import_id, event = upload(data)
    key = event["Records"][0]["s3"]["object"]["key"]
    bucket = get_settings().uploads_bucket

    def dropping(_bucket: str, _key: str) -> Iterator[bytes]:
        cut = len(data) * 4 // 5
        yield from (data[start : min(start + 8192, cut)] for start in range(0, cut, 8192))
        raise ConnectionResetError("the connection dropped")

    with pytest.raises(ConnectionResetError):
        run_import(bucket, key, chunks=dropping)
    meta = Import.get(import_id, "meta")
    assert meta.status == "running"
    assert 0 < meta.resume_line < 1001

    # When Lambda runs the event again
    outcome = run(event)

    # Then the import ends as one run would have ended it
    assert list(outcome.values()) == ["done"]
    assert report(import_id)["counts"] == {
        "rows": 1001,
        "created": 1000,
        "updated": 0,
        "unchanged": 0,
        "rejected": 1,
        "suppressed": 0,
    }
    assert rejected(import_id) == [(1002, "duplicate of line 9")]
    assert sum(1 for _ in Contact.scan()) == 1000


def test_an_import_that_fails_on_its_third_run_is_marked_failed(importer: ResolvedTemplate) -> None:
    import_id, event = upload(_contacts_file(5))
    key = event["Records"][0]["s3"]["object"]["key"]

    def broken(_bucket: str, _key: str) -> Iterator[bytes]:
        raise ConnectionResetError("S3 is down")
        yield b""  # pragma: no cover

    for _ in range(3):
        with pytest.raises(ConnectionResetError):
            run_import(get_settings().uploads_bucket, key, chunks=broken)

    answer = report(import_id)
    assert answer["status"] == "failed"
    assert answer["error"]["code"] == "interrupted"


def test_an_object_uploaded_without_an_import_is_ignored(importer: ResolvedTemplate) -> None:
    outcome = run_import(get_settings().uploads_bucket, "imports/01JUNKNOWN000000000000000.csv")

    assert outcome == "ignored"


def test_the_import_function_emits_its_counts_as_metrics(
    importer: ResolvedTemplate, capsys: pytest.CaptureFixture[str]
) -> None:
    import_file(importer, FRENCH_EXCEL.encode("cp1252"))

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    emitted = {name: values for line in lines for name, values in line.items() if name.startswith("imports.")}
    assert emitted["imports.created"] == [3.0]
    assert emitted["imports.rows"] == [3.0]
