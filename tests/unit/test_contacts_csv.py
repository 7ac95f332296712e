"""Reading a contacts CSV: encodings, separators, header names, bad records, and memory that stays flat."""

from __future__ import annotations

import codecs
import csv
import io
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from closeloop.rules.contacts_csv import ContactsCsv, FileProblem, Record, detect_delimiter
from tests.support import ROOT


def chunked(data: bytes, size: int = 7) -> list[bytes]:
    """Small chunks, so that multi-byte characters and CRLFs fall across chunk ends."""
    return [data[start : start + size] for start in range(0, len(data), size)]


def read(data: bytes, size: int = 7) -> tuple[ContactsCsv, list[Record]]:
    opened = ContactsCsv(chunked(data, size))
    return opened, list(opened)


def test_a_french_excel_export_is_read_as_cp1252_with_semicolons_and_french_headers() -> None:
    data = (
        "Courriel;Prénom;Nom;Téléphone;Société;Langue;Responsable;Poids\r\n"
        "a@b.fr;Zoé;Lefèvre;06 12 34 56 78;Café Éclair;FR;x@y.fr;1,5\r\n"
    )

    opened, records = read(data.encode("cp1252"))

    assert (opened.encoding, opened.delimiter) == ("cp1252", ";")
    assert list(opened.columns) == [
        "email",
        "first_name",
        "last_name",
        "phone",
        "company",
        "language",
        "account_owner",
        "weight",
    ]
    assert records == [
        Record(
            2,
            {
                "email": "a@b.fr",
                "first_name": "Zoé",
                "last_name": "Lefèvre",
                "phone": "06 12 34 56 78",
                "company": "Café Éclair",
                "language": "FR",
                "account_owner": "x@y.fr",
                "weight": "1,5",
            },
        )
    ]


@pytest.mark.parametrize(
    ("prefix", "codec", "expected"),
    [(codecs.BOM_UTF8, "utf-8", "utf-8-sig"), (b"", "utf-8", "utf-8"), (b"", "utf-16", "utf-16")],
    ids=["utf-8 with BOM", "utf-8", "utf-16 with BOM"],
)
def test_unicode_files_are_read_whatever_their_byte_order_mark(prefix: bytes, codec: str, expected: str) -> None:
    data = prefix + "E-mail,First name\nzoë@exemple.fr,Zoë Ł\n".encode(codec)

    opened, records = read(data)

    assert opened.encoding == expected
    assert records[0].values == {"email": "zoë@exemple.fr", "first_name": "Zoë Ł"}


def test_a_utf8_file_with_a_few_cp1252_bytes_pasted_in_keeps_both() -> None:
    data = "email;nom\na@b.fr;Noël Hélène\n".encode() + "c@d.fr;Noël\n".encode("cp1252")

    _, records = read(data)

    assert [r.values["last_name"] for r in records] == ["Noël Hélène", "Noël"]


def test_quoted_fields_hold_separators_doubled_quotes_and_line_breaks_and_lines_are_counted() -> None:
    data = b'email,company,last name\na@b.fr,"Alpha, Beta","O""Neil"\nc@d.fr,"Line one\r\nLine two",X\ne@f.fr,Gamma,Y\n'

    _, records = read(data)

    assert [(r.line, r.values["company"]) for r in records] == [
        (2, "Alpha, Beta"),
        (3, "Line one\r\nLine two"),
        (5, "Gamma"),
    ]
    assert records[0].values["last_name"] == 'O"Neil'


def test_blank_lines_and_trailing_separators_are_not_records() -> None:
    _, records = read(b"email;nom;;\r\n\r\n;;;\r\na@b.fr;X;;\r\n")

    assert [(r.line, r.values) for r in records] == [(4, {"email": "a@b.fr", "last_name": "X"})]


def test_record_problems_are_given_with_the_record_and_reading_goes_on() -> None:
    data = b"email,company\na@b.fr,One,Two\n" + "g@h.fr,\ufffd\n".encode() + b'c@d.fr,"never closed\nx\ne@f.fr,ok\n'

    _, records = read(data)

    assert [(r.line, r.problem) for r in records] == [
        (2, "too_many_cells"),
        (3, "encoding"),
        (4, "unbalanced_quotes"),
    ]
    assert records[2].params == {"first": "4", "last": "6"}


def test_a_runaway_quote_skips_a_bounded_number_of_lines_then_reading_goes_on() -> None:
    lines = ['a@b.fr,"opened and never closed'] + [f"p{n}@example.org,Company {n}" for n in range(60)]
    data = ("email,company\n" + "\n".join(lines) + "\n").encode()

    _, records = read(data, size=64)

    assert records[0].problem == "unbalanced_quotes"
    assert records[0].params == {"first": "2", "last": "22"}  # 20 lines, and the one that went past
    assert records[1].line == 23
    assert records[-1].values["email"] == "p59@example.org"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"  \r\n\r\n", "empty"),
        (codecs.BOM_UTF8, "empty"),
        (b"PK\x03\x04" + b"\x00" * 40, "spreadsheet"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 40, "spreadsheet"),
        (b"%PDF-1.7\n...", "spreadsheet"),
        (bytes(range(256)), "binary"),
        (b"email\x00name\n", "binary"),
        (b"nom;prenom\nx;y\n", "missing_columns"),
        (b"courriel;e-mail\nx;y\n", "duplicate_columns"),
    ],
)
def test_files_that_are_not_contacts_csv_raise_a_file_problem(data: bytes, code: str) -> None:
    with pytest.raises(FileProblem) as raised:
        ContactsCsv(chunked(data))

    assert raised.value.code == code


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("E-mail", "email"),
        ("Adresse e-mail", "email"),
        ("COURRIEL", "email"),
        ("Prénom", "first_name"),
        ("First Name", "first_name"),
        ("Nom de famille", "last_name"),
        ("Téléphone", "phone"),
        ("Entreprise", "company"),
        ("Société", "company"),
        ("Langue", "language"),
        ("Responsable", "account_owner"),
        ("Account owner", "account_owner"),
        ("Poids", "weight"),
        ("  Email * ", "email"),
    ],
)
def test_header_names_in_french_or_english_map_to_their_field(header: str, field: str) -> None:
    line = f"{header};Notes\n" if field == "email" else f"Email;{header}\n"

    opened = ContactsCsv([line.encode()])

    assert opened.columns[field] == (0 if field == "email" else 1)
    assert opened.ignored == (["Notes"] if field == "email" else [])


@pytest.mark.parametrize(
    ("line", "delimiter"),
    [("email;nom", ";"), ("email,nom", ","), ("email\tnom", "\t"), ("email", ","), ('"a;b",c,d', ",")],
)
def test_the_separator_is_the_one_the_header_uses_most_outside_quotes(line: str, delimiter: str) -> None:
    assert detect_delimiter(line) == delimiter


# Printable ASCII (separators and quotes included), line breaks, and the accented letters of French:
# the structure of the file is under test here; guessing an encoding is tested by examples above.
cells = st.text(alphabet=st.sampled_from([chr(c) for c in range(32, 127)] + list("\néèàçùêôîïëâÉÀÇ")), max_size=30)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(cells, cells, cells), min_size=1, max_size=12),
    delimiter=st.sampled_from([",", ";"]),
    codec=st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
    size=st.integers(min_value=1, max_value=50),
)
def test_any_file_written_by_a_csv_writer_reads_back_cell_for_cell(
    rows: list[tuple[str, str, str]], delimiter: str, codec: str, size: int
) -> None:
    # Given a file written by Python's csv writer (quoting what needs it), with an email column
    text = io.StringIO(newline="")
    writer = csv.writer(text, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(["Email", "Nom", "Société"])
    emails = [f"person{n}@example.org" for n in range(len(rows))]
    for email, (last_name, company, _) in zip(emails, rows, strict=True):
        writer.writerow([email, last_name, company])

    # When it is read back in chunks of any size
    _, records = read(text.getvalue().encode(codec), size)

    # Then every row comes back, its cells as written (trimmed), in order
    assert [r.values["email"] for r in records] == emails
    assert [r.values["last_name"] for r in records] == [row[0].strip() for row in rows]
    assert [r.values["company"] for r in records] == [row[1].strip() for row in rows]


# ------------------------------------------------------------------ memory


def generated(rows: int) -> Iterator[bytes]:
    """A contacts file of `rows` rows, made 64 KiB at a time (never held whole)."""
    yield "Courriel;Prénom;Nom;Téléphone;Société;Poids\r\n".encode("cp1252")
    batch: list[str] = []
    for n in range(rows):
        batch.append(f"contact{n}@client{n % 991}.example;Hélène;Dupré {n};06 12 34 56 78;Société {n};1,5\r\n")
        if len(batch) == 800:
            yield "".join(batch).encode("cp1252")
            batch = []
    if batch:
        yield "".join(batch).encode("cp1252")


def peak_bytes_reading(rows: int) -> int:
    """The peak of memory allocated while reading a file of `rows` rows, in a process of its own
    (so that no other thread of the test run is traced with it)."""
    script = (
        "import tracemalloc\n"
        "from closeloop.rules.contacts_csv import ContactsCsv\n"
        "from tests.unit.test_contacts_csv import generated\n"
        "tracemalloc.start()\n"
        f"count = sum(1 for _ in ContactsCsv(generated({rows})))\n"
        "print(count, tracemalloc.get_traced_memory()[1])\n"
    )
    answer = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True)
    count, peak = (int(value) for value in answer.stdout.split())
    assert count == rows
    return peak


def test_reading_100000_rows_takes_no_more_memory_than_reading_10000() -> None:
    small = peak_bytes_reading(10_000)
    large = peak_bytes_reading(100_000)

    # Ten times the rows: a reader holding the file would need ten times the memory.
    assert large < small * 1.5, (small, large)
    assert large < 2_000_000
