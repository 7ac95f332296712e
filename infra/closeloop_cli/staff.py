"""`closeloop staff ...`: the staff directory: import a CSV, list, show, add, edit, deactivate, reactivate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from closeloop_cli import api

app = typer.Typer(
    help="The staff directory: import a CSV, list, show, add, edit, deactivate and reactivate staff.",
    no_args_is_help=True,
)
console = Console()

COUNTS = ("rows", "created", "updated", "unchanged", "rejected")
COUNT_LABELS = {
    "fr": {
        "rows": "lignes",
        "created": "créés",
        "updated": "mis à jour",
        "unchanged": "inchangés",
        "rejected": "rejetés",
    },
    "en": {name: name for name in COUNTS},
}
TEXTS = {
    "fr": {
        "done": "Import du personnel terminé",
        "rejected_rows": "Lignes rejetées",
        "line": "ligne",
        "email": "e-mail",
        "reason": "raison",
        "ignored": "Colonnes ignorées : {columns}",
    },
    "en": {
        "done": "Staff import done",
        "rejected_rows": "Rejected rows",
        "line": "line",
        "email": "email",
        "reason": "reason",
        "ignored": "Columns ignored: {columns}",
    },
}
_COLUMNS = ("staff_id", "name", "email", "groups", "department", "language", "active", "capacity", "open_cases")

GroupsOption = Annotated[
    list[str] | None,
    typer.Option("--group", "-g", help="A group (caller, manager, admin); repeat the option for several."),
]


def _call(api_url: str, method: str, path: str, **kwargs: Any) -> Any:
    headers = {"Accept-Language": api.language(), **kwargs.pop("headers", {})}
    return api.call(api_url, method, path, headers=headers, **kwargs)


def _cell(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _table(members: list[dict[str, Any]]) -> Table:
    table = Table(show_header=True)
    for name in _COLUMNS:
        table.add_column(name)
    for member in members:
        table.add_row(*(_cell(member.get(name)) for name in _COLUMNS))
    return table


def _resolve(api_url: str, who: str) -> dict[str, Any]:
    """A staff member by id, or by the email they sign in with."""
    if "@" not in who:
        found: dict[str, Any] = _call(api_url, "GET", f"/directory/{who}")
        return found
    for member in _call(api_url, "GET", "/directory")["staff"]:
        if member["email"] == who.strip().lower():
            return dict(member)
    return api.fail(f"no staff member signs in with {who}")


def print_report(report: dict[str, Any]) -> None:
    lang = api.language()
    text = TEXTS[lang]
    style = "yellow" if report["rejected"] else "green"
    console.print(f"[bold {style}]{text['done']}[/bold {style}]")
    counts = Table(show_header=True, box=None)
    for name in COUNTS:
        counts.add_column(COUNT_LABELS[lang][name], justify="right")
    counts.add_row(*(str(report[name]) for name in COUNTS))
    console.print(counts)
    if report.get("ignored_columns"):
        console.print(text["ignored"].format(columns=", ".join(report["ignored_columns"])), style="dim")
    if report["rejected_rows"]:
        table = Table(title=text["rejected_rows"], show_header=True)
        table.add_column(text["line"], justify="right")
        table.add_column(text["email"])
        table.add_column(text["reason"])
        for row in report["rejected_rows"]:
            reasons = "; ".join(problem["message"] for problem in row["problems"])
            table.add_row(str(row["line"]), row.get("email") or "", reasons)
        console.print(table)


@app.command("import")
def import_file(
    file: Annotated[
        Path,
        typer.Argument(help="The staff CSV: UTF-8 or Windows-1252, `,` or `;`, name/nom and email/courriel columns."),
    ],
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Import a staff CSV (upsert by email) and print its report; exit 1 when rows were rejected."""
    if not file.is_file():
        api.fail(f"no file at {file}")
    data = file.read_bytes()
    try:
        data.decode("utf-8")
        content_type = "text/csv; charset=utf-8"
    except UnicodeDecodeError:
        content_type = "application/octet-stream"  # Windows-1252: the API reads the bytes as they are
    report = _call(api_url, "POST", "/directory/imports", content=data, headers={"Content-Type": content_type})
    print_report(report)
    if report["rejected"]:
        raise typer.Exit(1)


@app.command("list")
def list_staff(
    *,
    active: Annotated[
        bool | None, typer.Option("--active/--inactive", help="Only active (or only inactive) staff.")
    ] = None,
    group: Annotated[str | None, typer.Option(help="Only this group (caller, manager, admin).")] = None,
    department: Annotated[str | None, typer.Option(help="Only this department.")] = None,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """The staff directory, sorted by name."""
    params: dict[str, str] = {}
    if active is not None:
        params["active"] = "true" if active else "false"
    if group:
        params["group"] = group
    if department:
        params["department"] = department
    console.print(_table(_call(api_url, "GET", "/directory", params=params)["staff"]))


@app.command("show")
def show(
    who: Annotated[str, typer.Argument(help="A staff id, or the email they sign in with.")],
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """One staff member, as JSON."""
    console.print_json(data=_resolve(api_url, who))


@app.command("add")
def add(
    *,
    name: Annotated[str, typer.Option(help="Full name.")],
    email: Annotated[str, typer.Option(help="The email they sign in with.")],
    group: GroupsOption = None,
    phone: Annotated[str | None, typer.Option(help="Phone number.")] = None,
    language: Annotated[str | None, typer.Option(help="fr or en.")] = None,
    department: Annotated[str | None, typer.Option(help="Department.")] = None,
    capacity: Annotated[int | None, typer.Option(help="Open cases at most.")] = None,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Add a staff member (admins); their sign-in account follows."""
    body: dict[str, Any] = {"name": name, "email": email, "groups": group or []}
    for key, value in {"phone": phone, "language": language, "department": department, "capacity": capacity}.items():
        if value is not None:
            body[key] = value
    console.print_json(data=_call(api_url, "POST", "/directory", json=body))


def _patch(api_url: str, who: str, changes: dict[str, Any]) -> None:
    member = _resolve(api_url, who)
    answer = _call(api_url, "PATCH", f"/directory/{member['staff_id']}", json={"version": member["version"], **changes})
    console.print_json(data=answer)


@app.command("edit")
def edit(
    who: Annotated[str, typer.Argument(help="A staff id, or the email they sign in with.")],
    *,
    name: Annotated[str | None, typer.Option(help="Full name.")] = None,
    email: Annotated[str | None, typer.Option(help="A new sign-in email.")] = None,
    group: GroupsOption = None,
    phone: Annotated[str | None, typer.Option(help='Phone number ("" clears it).')] = None,
    language: Annotated[str | None, typer.Option(help="fr or en.")] = None,
    department: Annotated[str | None, typer.Option(help='Department ("" clears it).')] = None,
    capacity: Annotated[int | None, typer.Option(help="Open cases at most.")] = None,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Change some fields of a staff member (admins); the version read is sent, so a change made
    by someone else meanwhile is refused (409: run the command again)."""
    changes: dict[str, Any] = {
        key: value
        for key, value in {
            "name": name,
            "email": email,
            "language": language,
            "capacity": capacity,
            "groups": group,
        }.items()
        if value is not None
    }
    for key, value in {"phone": phone, "department": department}.items():
        if value is not None:
            changes[key] = value or None
    if not changes:
        api.fail("nothing to change: give at least one option (see --help)")
    _patch(api_url, who, changes)


@app.command("deactivate")
def deactivate(
    who: Annotated[str, typer.Argument(help="A staff id, or the email they sign in with.")],
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """A departure: sign-in disabled, open cases reassigned to other callers."""
    _patch(api_url, who, {"active": False})


@app.command("reactivate")
def reactivate(
    who: Annotated[str, typer.Argument(help="A staff id, or the email they sign in with.")],
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Back in the directory: sign-in enabled, in the caller pool again if a caller."""
    _patch(api_url, who, {"active": True})
