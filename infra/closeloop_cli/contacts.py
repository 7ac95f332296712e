"""`closeloop contacts ...`: import a CSV file, list the imports, list, search, show, add and edit contacts."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from closeloop_cli import api

app = typer.Typer(help="Contacts: import a CSV file, list, search, show, add and edit.", no_args_is_help=True)
console = Console()

POLL_SECONDS = 0.5
COUNTS = ("rows", "created", "updated", "unchanged", "rejected", "suppressed")
COUNT_LABELS = {
    "fr": {
        "rows": "lignes",
        "created": "créés",
        "updated": "mis à jour",
        "unchanged": "inchangés",
        "rejected": "rejetés",
        "suppressed": "désinscrits",
    },
    "en": {name: name for name in COUNTS},
}
TEXTS = {
    "fr": {
        "uploading": "Envoi du fichier",
        "waiting": "En attente du fichier",
        "running": "Import en cours",
        "done": "Import terminé",
        "failed": "Import échoué",
        "rejected_rows": "Lignes rejetées",
        "line": "ligne",
        "email": "e-mail",
        "reason": "raison",
        "timeout": "l'import n'est pas terminé après {seconds} s : suivez-le avec GET /imports/{id}",
        "import": "import",
        "status": "état",
        "by": "par",
        "created_at": "créé le",
    },
    "en": {
        "uploading": "Uploading the file",
        "waiting": "Waiting for the file",
        "running": "Importing",
        "done": "Import done",
        "failed": "Import failed",
        "rejected_rows": "Rejected rows",
        "line": "line",
        "email": "email",
        "reason": "reason",
        "timeout": "the import is not over after {seconds} s: follow it with GET /imports/{id}",
        "import": "import",
        "status": "status",
        "by": "by",
        "created_at": "created",
    },
}


def _headers() -> dict[str, str]:
    return {"Accept-Language": api.language()}


def _call(api_url: str, method: str, path: str, **kwargs: Any) -> Any:
    return api.call(api_url, method, path, headers=_headers(), **kwargs)


# ------------------------------------------------------------------ import


def _upload(url: str, file: Path) -> None:
    size = file.stat().st_size
    text = TEXTS[api.language()]
    with (
        Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), console=console) as bar,
        file.open("rb") as stream,
    ):
        task = bar.add_task(text["uploading"], total=size)

        def chunks() -> Any:
            while True:
                chunk = stream.read(256 * 1024)
                if not chunk:
                    return
                bar.update(task, advance=len(chunk))
                yield chunk

        try:
            answer = httpx.put(
                url, content=chunks(), headers={"Content-Length": str(size), "Content-Type": "text/csv"}, timeout=300
            )
        except httpx.TransportError as error:
            api.fail(f"the upload failed: {error}")
    if answer.is_error:
        api.fail(f"the upload was refused: {answer.status_code} {answer.text[:200]}")


def _follow(api_url: str, import_id: str, timeout: float) -> dict[str, Any]:
    text = TEXTS[api.language()]
    deadline = time.monotonic() + timeout
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[rows]}"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(text["waiting"], total=None, rows="")
        while True:
            report: dict[str, Any] = _call(api_url, "GET", f"/imports/{import_id}")
            status = report["status"]
            progress = report.get("progress") or {}
            rows = report["counts"]["rows"]
            bar.update(
                task,
                description=text.get(status, status),
                total=progress.get("size") or None,
                completed=progress.get("bytes_read") or 0,
                rows=f"{rows} {COUNT_LABELS[api.language()]['rows']}",
            )
            if status in ("done", "failed"):
                if status == "done" and progress.get("size"):
                    bar.update(task, completed=progress["size"])
                return report
            if time.monotonic() > deadline:
                api.fail(text["timeout"].format(seconds=int(timeout), id=import_id))
            time.sleep(POLL_SECONDS)


def _all_rejected(api_url: str, import_id: str, report: dict[str, Any]) -> list[dict[str, Any]]:
    rows = list(report.get("rejected_rows") or [])
    cursor = report.get("next_cursor")
    while cursor:
        page = _call(api_url, "GET", f"/imports/{import_id}", params={"cursor": cursor})
        rows += page.get("rejected_rows") or []
        cursor = page.get("next_cursor")
    return rows


def print_report(report: dict[str, Any], rejected: list[dict[str, Any]]) -> None:
    lang = api.language()
    text = TEXTS[lang]
    status = report["status"]
    style = "green" if status == "done" else "red"
    console.print(f"[bold {style}]{text.get(status, status)}[/bold {style}]  ({report['import_id']})")
    if report.get("error"):
        console.print(f"[red]{report['error']['message']}[/red]")
    counts = Table(show_header=True, box=None)
    for name in COUNTS:
        counts.add_column(COUNT_LABELS[lang][name], justify="right")
    counts.add_row(*(str(report["counts"][name]) for name in COUNTS))
    console.print(counts)
    if rejected:
        table = Table(title=text["rejected_rows"], show_header=True)
        table.add_column(text["line"], justify="right")
        table.add_column(text["email"])
        table.add_column(text["reason"])
        for row in rejected:
            table.add_row(str(row["line"]), row.get("email") or "", row["message"])
        console.print(table)


@app.command("import")
def import_file(
    file: Annotated[
        Path, typer.Argument(help="The CSV file: UTF-8 or Windows-1252, `,` or `;`, with an email column.")
    ],
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the import to end.")] = 600.0,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Upload a CSV of contacts, show the import's progress, then its report (exit 1 if it failed)."""
    if not file.is_file():
        api.fail(f"no file at {file}")
    started = _call(api_url, "POST", "/imports")
    _upload(started["upload"]["url"], file)
    report = _follow(api_url, started["import_id"], timeout)
    print_report(report, _all_rejected(api_url, started["import_id"], report))
    if report["status"] == "failed":
        raise typer.Exit(1)


@app.command("imports")
def list_imports(
    limit: Annotated[int, typer.Option(help="Imports to show at most.")] = 20,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """The imports, newest first, with their status and counts."""
    texts, labels = TEXTS[api.language()], COUNT_LABELS[api.language()]
    shown: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(shown) < limit:
        page = _call(api_url, "GET", "/imports", params={"cursor": cursor} if cursor else {})
        shown += page["imports"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    table = Table(show_header=True)
    table.add_column(texts["import"], no_wrap=True)
    table.add_column(texts["status"], no_wrap=True)
    for name in (*(labels[count] for count in COUNTS), texts["by"], texts["created_at"]):
        table.add_column(name)
    for item in shown[:limit]:
        table.add_row(
            item["import_id"],
            texts.get(item["status"], item["status"]),
            *(str(item["counts"][count]) for count in COUNTS),
            item.get("uploaded_by") or "",
            (item.get("created_at") or "")[:16].replace("T", " "),
        )
    console.print(table)


# ------------------------------------------------------------------ contacts

_COLUMNS = ("contact_id", "email", "first_name", "last_name", "company", "segment", "language", "account_owner")


def _table(contacts: list[dict[str, Any]]) -> Table:
    table = Table(show_header=True)
    for name in _COLUMNS:
        table.add_column(name)
    for contact in contacts:
        table.add_row(*(str(contact.get(name) or "") for name in _COLUMNS))
    return table


@app.command("list")
def list_contacts(
    *,
    q: Annotated[str | None, typer.Option("--q", "-q", help="An email, a company, or the start of a name.")] = None,
    segment: Annotated[str | None, typer.Option(help="Only this segment.")] = None,
    lang: Annotated[str | None, typer.Option("--language", help="Only this language (fr, en).")] = None,
    owner: Annotated[str | None, typer.Option(help="Only the contacts of this account owner (email).")] = None,
    limit: Annotated[int, typer.Option(help="Contacts to show at most.")] = 50,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """List or search contacts."""
    shown: list[dict[str, Any]] = []
    cursor: str | None = None
    params = {k: v for k, v in {"q": q, "segment": segment, "language": lang, "owner": owner}.items() if v}
    while len(shown) < limit:
        page = _call(
            api_url,
            "GET",
            "/contacts",
            params={**params, "limit": min(100, limit - len(shown)), **({"cursor": cursor} if cursor else {})},
        )
        shown += page["contacts"]
        cursor = page.get("next_cursor")
        if not cursor:
            break
    console.print(_table(shown))


@app.command("show")
def show(contact_id: str, api_url: api.ApiOption = api.LOCAL_API) -> None:
    """Show one contact."""
    console.print_json(data=_call(api_url, "GET", f"/contacts/{contact_id}"))


Field = Annotated[str | None, typer.Option()]


@app.command("add")
def add(
    *,
    email: Annotated[str, typer.Option(help="The contact's email (unique).")],
    first_name: Field = None,
    last_name: Field = None,
    phone: Field = None,
    company: Field = None,
    segment: Field = None,
    lang: Annotated[str | None, typer.Option("--language", help="fr or en.")] = None,
    account_owner: Field = None,
    weight: Field = None,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Add a contact."""
    body = {
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "phone": phone,
        "company": company,
        "segment": segment,
        "language": lang,
        "account_owner": account_owner,
        "weight": weight,
    }
    console.print_json(data=_call(api_url, "POST", "/contacts", json={k: v for k, v in body.items() if v is not None}))


@app.command("edit")
def edit(
    contact_id: str,
    *,
    email: Field = None,
    first_name: Field = None,
    last_name: Field = None,
    phone: Field = None,
    company: Field = None,
    segment: Field = None,
    lang: Annotated[str | None, typer.Option("--language", help="fr or en.")] = None,
    account_owner: Field = None,
    weight: Field = None,
    clear: Annotated[list[str] | None, typer.Option(help="A field to empty (phone, company, ...).")] = None,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Change some fields of a contact (reads its version first: a change made meanwhile is refused)."""
    current = _call(api_url, "GET", f"/contacts/{contact_id}")
    changes: dict[str, Any] = {
        k: v
        for k, v in {
            "email": email,
            "first_name": first_name,
            "last_name": last_name,
            "phone": phone,
            "company": company,
            "segment": segment,
            "language": lang,
            "account_owner": account_owner,
            "weight": weight,
        }.items()
        if v is not None
    }
    changes |= dict.fromkeys(clear or [])
    body = {"version": current["version"], **changes}
    console.print_json(data=_call(api_url, "PATCH", f"/contacts/{contact_id}", json=body))
