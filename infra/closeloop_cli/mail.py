"""`closeloop mail ...`: the customers' mail that was not processed (quarantine)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from closeloop_cli import api

app = typer.Typer(help="Inbound mail: what was quarantined, and why.", no_args_is_help=True)

TEXTS = {
    "fr": {
        "title": "Courriels en quarantaine ({month})",
        "columns": ("id", "reçu le", "raison", "objet", "taille", "traité"),
        "none": "Aucun courriel en quarantaine en {month}.",
        "yes": "oui",
        "no": "non",
        "more": "Page suivante : closeloop mail quarantine --month {month} --next {next}",
        "handled": "Courriel {id} marqué traité.",
    },
    "en": {
        "title": "Quarantined mail ({month})",
        "columns": ("id", "received", "reason", "subject", "size", "handled"),
        "none": "No mail quarantined in {month}.",
        "yes": "yes",
        "no": "no",
        "more": "Next page: closeloop mail quarantine --month {month} --next {next}",
        "handled": "Mail {id} marked handled.",
    },
}


def _text(key: str) -> Any:
    return TEXTS[api.language()][key]


def _call(api_url: str, method: str, path: str, **kwargs: Any) -> Any:
    headers = {"accept-language": api.language()}
    return api.call(api_url, method, path, token=api.stored_token(api_url), headers=headers, **kwargs)


@app.command("quarantine")
def quarantine(
    month: Annotated[str | None, typer.Option(help="YYYY-MM; default this month.")] = None,
    next_page: Annotated[str | None, typer.Option("--next", help="The cursor a previous page printed.")] = None,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Mail to the reply addresses that was not processed, newest first, with its reason (managers)."""
    params = {key: value for key, value in {"month": month, "next": next_page}.items() if value}
    page = _call(api_url, "GET", "/quarantine", params=params)
    console = Console()
    if not page["items"]:
        console.print(_text("none").format(month=page["month"]))
        return
    table = Table(title=_text("title").format(month=page["month"]))
    for column in _text("columns"):
        table.add_column(column)
    for item in page["items"]:
        table.add_row(
            item["id"],
            item["received_at"],
            item["reason_text"],
            Text(item["subject"] or ""),  # the customer's words, never read as markup
            str(item["size"]),
            _text("yes") if item["handled"] else _text("no"),
        )
    console.print(table)
    if page.get("next"):
        console.print(_text("more").format(month=page["month"], next=page["next"]), style="dim")


@app.command("handled")
def handled(quarantine_id: str, api_url: api.ApiOption = api.LOCAL_API) -> None:
    """Mark a quarantined mail handled (managers)."""
    _call(api_url, "POST", f"/quarantine/{quarantine_id}/handled")
    Console().print(_text("handled").format(id=quarantine_id))
