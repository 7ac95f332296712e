"""Reading a staff CSV: encodings, separators, French and English columns, and each field's rules."""

from __future__ import annotations

import codecs

import pytest
from hypothesis import given
from hypothesis import strategies as st

from closeloop.rules import staff_csv
from closeloop.rules.contact_fields import FieldProblem
from closeloop.rules.contacts_csv import FileProblem

FRENCH = (
    "Prénom;Nom;Courriel;Téléphone;Langue;Département;Groupes;Actif;Capacité\r\n"
    "Claire;Martin;Claire.Martin@Demo.example;06 12 34 56 78;Français;Service Client;appelant, manager;oui;12\r\n"
    "Marc;Dubois;marc@demo.example;;en;;admin;non;0\r\n"
)


@pytest.mark.parametrize(
    "data",
    [FRENCH.encode("cp1252"), FRENCH.encode("utf-8"), codecs.BOM_UTF8 + FRENCH.encode("utf-8")],
    ids=["cp1252", "utf-8", "utf-8 with BOM"],
)
def test_an_excel_export_in_french_reads_in_every_encoding_excel_writes(data: bytes) -> None:
    parsed = staff_csv.read_staff_file(data)

    assert parsed.delimiter == ";"
    assert parsed.rejected == []
    claire, marc = parsed.rows
    assert claire.line == 2
    assert claire.values == {
        "name": "Claire Martin",
        "email": "claire.martin@demo.example",
        "phone": "+33612345678",
        "language": "fr",
        "department": "service-client",
        "groups": {"caller", "manager"},
        "active": True,
        "capacity": 12,
    }
    assert marc.values["groups"] == {"admin"}
    assert marc.values["active"] is False
    assert marc.values["capacity"] == 0
    assert "phone" not in marc.values  # an empty cell changes nothing
    assert "department" not in marc.values


def test_english_columns_with_commas_and_quoted_cells() -> None:
    data = b'name,email,groups,active,capacity\n"Roy, Anne",anne@demo.example,"caller manager",yes,5\n'

    (row,) = staff_csv.read_staff_file(data).rows

    assert row.values == {
        "name": "Roy, Anne",
        "email": "anne@demo.example",
        "groups": {"caller", "manager"},
        "active": True,
        "capacity": 5,
    }


def test_each_bad_row_is_reported_with_its_line_and_every_reason_in_both_languages() -> None:
    data = b"nom;email;groupes;actif;capacite\nA;a@demo.example;;;\n;bad;chef;peut-etre;-1\nB;a@demo.example;;;\n"

    parsed = staff_csv.read_staff_file(data)

    assert [row.line for row in parsed.rows] == [2]
    bad, duplicate = parsed.rejected
    assert bad.line == 3
    assert [p.code for p in bad.problems] == [
        "missing_name",
        "invalid_email",
        "invalid_groups",
        "invalid_active",
        "invalid_capacity",
    ]
    assert bad.as_dict("fr")["problems"][2]["message"].startswith("groupe inconnu chef")
    assert bad.as_dict("en")["problems"][0]["message"] == "no name"
    assert duplicate.line == 4
    assert duplicate.as_dict("fr")["problems"][0]["message"] == "doublon de la ligne 2"


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "empty"),
        (b"nom;poste\nA;B\n", "missing_columns"),
        (b"nom;email;courriel\nA;a@x.example;b@x.example\n", "duplicate_columns"),
        (b"PK\x03\x04rest-of-a-zip", "spreadsheet"),
        (b"nom;email\n", "no_rows"),
        (b"nom;email\n" + b"x" * (staff_csv.MAX_FILE_BYTES + 1), "too_big"),
    ],
)
def test_a_file_that_cannot_be_a_staff_list_is_refused_as_a_whole(data: bytes, code: str) -> None:
    with pytest.raises(FileProblem) as raised:
        staff_csv.read_staff_file(data)

    assert raised.value.code == code
    assert staff_csv.describe_file_problem(code, "fr", raised.value.params) != code


@pytest.mark.parametrize(
    ("cell", "groups"),
    [
        ("caller", {"caller"}),
        ("Appelant; Manager", {"caller", "manager"}),
        ("administrateur,appelante", {"admin", "caller"}),
        ("caller manager admin", {"caller", "manager", "admin"}),
        ("", set()),
    ],
)
def test_groups_read_in_french_or_english_with_any_separator(cell: str, groups: set[str]) -> None:
    assert staff_csv.groups(cell) == groups


@pytest.mark.parametrize(("cell", "active"), [("oui", True), ("Non", False), ("1", True), ("0", False), ("", True)])
def test_active_reads_yes_and_no_in_both_languages(cell: str, active: bool) -> None:
    assert staff_csv.active(cell) is active


@given(st.integers(min_value=0, max_value=staff_csv.MAX_CAPACITY))
def test_every_capacity_in_range_reads_back_as_itself(value: int) -> None:
    assert staff_csv.capacity(str(value)) == value
    assert staff_csv.capacity(f" {value},0 ") == value


@given(st.one_of(st.integers(max_value=-1), st.integers(min_value=staff_csv.MAX_CAPACITY + 1)))
def test_a_capacity_out_of_range_is_refused(value: int) -> None:
    with pytest.raises(FieldProblem):
        staff_csv.capacity(str(value))


@given(st.text(max_size=60))
def test_a_department_is_a_slug_or_a_reason(text: str) -> None:
    try:
        slug = staff_csv.department(text)
    except FieldProblem as problem:
        code = problem.code
        slug = None
    else:
        code = None
    assert code in (None, "invalid_department")
    assert slug is None or (1 <= len(slug) <= 40 and set(slug) <= set("abcdefghijklmnopqrstuvwxyz0123456789_-"))


@given(
    st.lists(
        st.fixed_dictionaries(
            {
                "name": st.text(alphabet=st.characters(blacklist_categories=("Cc", "Cs")), max_size=30),
                "groups": st.lists(st.sampled_from(["caller", "appelant", "manager", "admin", "chef"]), max_size=3),
                "capacity": st.integers(min_value=-5, max_value=1005),
            }
        ),
        min_size=1,
        max_size=15,
    ),
    st.sampled_from([";", ","]),
    st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]),
)
def test_every_row_of_any_file_is_either_kept_or_reported_never_lost(
    people: list[dict[str, object]], delimiter: str, encoding: str
) -> None:
    lines = [delimiter.join(["nom", "email", "groupes", "capacite"])]
    for n, person in enumerate(people):
        name = str(person["name"]).replace('"', "'")
        groups = " ".join(person["groups"])  # type: ignore[arg-type]
        lines.append(delimiter.join([f'"{name}"', f"p{n}@demo.example", groups, str(person["capacity"])]))
    data = "\n".join(lines).encode(encoding, errors="replace")

    parsed = staff_csv.read_staff_file(data)

    assert sorted([row.line for row in parsed.rows] + [row.line for row in parsed.rejected]) == list(
        range(2, len(people) + 2)
    )
    for row in parsed.rows:
        assert 0 <= row.values["capacity"] <= staff_csv.MAX_CAPACITY
        assert row.values.get("groups", set()) <= {"caller", "manager", "admin"}
