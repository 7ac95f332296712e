"""`closeloop cases ...`: my queue, the managers' list, a case with its call script, logging a call
attempt, reassigning and handing back, and the irritant taxonomy."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from closeloop_cli import api

app = typer.Typer(help="Callback cases: queue, detail and script, call attempts, reassignment.", no_args_is_help=True)
taxonomy_app = typer.Typer(help="The irritant taxonomy: list, add, edit.", no_args_is_help=True)
app.add_typer(taxonomy_app, name="taxonomy")


def console() -> Console:
    """A console for this command (made now, so that it measures the terminal it runs in)."""
    return Console()


TEXTS = {
    "fr": {
        "queue": "Mes rappels",
        "cases": "Rappels",
        "empty": "Aucun rappel.",
        "customer": "client",
        "company": "société",
        "category": "catégorie",
        "score": "note",
        "due": "échéance",
        "status": "statut",
        "overdue": "EN RETARD",
        "unconfirmed": "non confirmée",
        "next": "Page suivante : --cursor {cursor}",
        "logged": "Tentative enregistrée ({outcome}) : le rappel est {status}.",
        "moved": "Rappel {id} confié à {assignee} ({assignment}).",
        "tag_saved": "Étiquette {tag} enregistrée (version {version}).",
        "attempts": "Tentatives",
        "messages": "Courriels",
        "script": "Script d'appel",
        "categories": {"detractor": "détracteur", "passive": "passif", "promoter": "promoteur"},
        "statuses": {"open": "ouvert", "awaiting_second": "en attente du second échange", "closed": "clos"},
        "active": "active",
        "inactive": "retirée",
    },
    "en": {
        "queue": "My callbacks",
        "cases": "Callbacks",
        "empty": "No callback.",
        "customer": "customer",
        "company": "company",
        "category": "category",
        "score": "score",
        "due": "due",
        "status": "status",
        "overdue": "OVERDUE",
        "unconfirmed": "unconfirmed",
        "next": "Next page: --cursor {cursor}",
        "logged": "Attempt logged ({outcome}): the case is {status}.",
        "moved": "Case {id} given to {assignee} ({assignment}).",
        "tag_saved": "Tag {tag} saved (version {version}).",
        "attempts": "Attempts",
        "messages": "Mail",
        "script": "Call script",
        "categories": {},
        "statuses": {"awaiting_second": "awaiting the second exchange"},
        "active": "active",
        "inactive": "retired",
    },
}


def _text(key: str) -> Any:
    return TEXTS[api.language()][key]


def _call(api_url: str, method: str, path: str, **kwargs: Any) -> Any:
    """One call in the reader's language: the API's messages come back in it."""
    headers = {"Accept-Language": api.language(), **(kwargs.pop("headers", None) or {})}
    return api.call(api_url, method, path, token=api.stored_token(api_url), headers=headers, **kwargs)


def _category(category: str) -> str:
    return str(_text("categories").get(category, category))


def _status(status: str) -> str:
    return str(_text("statuses").get(status, status))


def _table(title: str, cases: list[dict[str, Any]]) -> Table:
    table = Table(title=title)
    table.add_column("case_id", no_wrap=True, min_width=26)
    for key in ("customer", "company", "category", "score", "due", "status"):
        table.add_column(str(_text(key)))
    for case in cases:
        score = str(case["score"]) + ("" if case["confirmed"] else f" ({_text('unconfirmed')})")
        due = case["due_at"] + (f" {_text('overdue')}" if case["overdue"] else "")
        customer = case.get("customer") or {}
        table.add_row(
            case["case_id"],
            customer.get("name") or "",
            customer.get("company") or "",
            _category(case["category"]),
            score,
            due,
            _status(case["status"]),
        )
    return table


@app.command("mine")
def mine(api_url: api.ApiOption = api.LOCAL_API) -> None:
    """My cases not closed: overdue first, then by due date."""
    queue = _call(api_url, "GET", "/cases/mine")
    if not queue["cases"]:
        console().print(_text("empty"))
        return
    console().print(_table(str(_text("queue")), queue["cases"]))


@app.command("list")
def list_cases(
    *,
    status: Annotated[str | None, typer.Option(help="open (default), awaiting_second or closed.")] = None,
    category: Annotated[str | None, typer.Option(help="detractor, passive or promoter.")] = None,
    overdue: Annotated[bool | None, typer.Option("--overdue/--not-overdue", help="Past due with no exchange.")] = None,
    assignee: Annotated[str | None, typer.Option(help="A staff id, or none for unassigned cases.")] = None,
    wave: Annotated[str | None, typer.Option(help="A wave id.")] = None,
    unconfirmed: Annotated[bool, typer.Option(help="Only cases whose score is not confirmed.")] = False,
    limit: Annotated[int, typer.Option(help="Cases per page (1-100).")] = 50,
    cursor: Annotated[str | None, typer.Option(help="The next page, as the previous one gave it.")] = None,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Cases of a status by due date, filtered (managers)."""
    query: dict[str, Any] = {
        "status": status,
        "category": category,
        "overdue": None if overdue is None else str(overdue).lower(),
        "assignee": assignee,
        "wave": wave,
        "unconfirmed": "true" if unconfirmed else None,
        "limit": limit,
        "cursor": cursor,
    }
    page = _call(api_url, "GET", "/cases", params={key: value for key, value in query.items() if value is not None})
    if not page["cases"]:
        console().print(_text("empty"))
    else:
        console().print(_table(str(_text("cases")), page["cases"]))
    if page.get("next_cursor"):
        console().print(_text("next").format(cursor=page["next_cursor"]), highlight=False)


def _print_script(script: dict[str, Any] | None) -> None:
    if not script:
        return
    out = console()
    out.rule(f"{_text('script')}: {script['title']}")
    for section in script["sections"]:
        out.print(f"[bold]{section['heading']}[/bold]")
        for paragraph in section["paragraphs"]:
            out.print(paragraph, markup=False, highlight=False)
        for bullet in section["bullets"]:
            out.print(f"  • {bullet}", markup=False, highlight=False)
        out.print()


@app.command("show")
def show(
    case_id: str,
    lang: Annotated[
        str | None, typer.Option("--language", help="The script in fr or en (default: the customer's).")
    ] = None,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """A case: the customer, their answer, the attempts, the mail and the call script."""
    case = _call(api_url, "GET", f"/cases/{case_id}", params={"lang": lang} if lang else None)
    out = console()
    customer = case["customer"]
    who = " - ".join(part for part in (customer.get("name"), customer.get("company")) if part)
    out.print(f"[bold]{who}[/bold] ({case['case_id']})", highlight=False)
    out.print(
        " | ".join(part for part in (customer.get("phone"), customer.get("email"), customer.get("language")) if part),
        markup=False,
    )
    score = f"{case['score']}/10 {_category(case['category'])}"
    if not case["confirmed"]:
        score += f" ({_text('unconfirmed')})"
    overdue = f" {_text('overdue')}" if case["overdue"] else ""
    out.print(
        f"{score} - {_status(case['status'])} - {_text('due')} {case['due_at']}{overdue} - v{case['version']}",
        highlight=False,
    )
    response = case.get("response") or {}
    if response.get("comment"):
        out.print(f"« {response['comment']} »", markup=False, highlight=False)
    if case["attempts"]:
        out.rule(str(_text("attempts")))
        for attempt in case["attempts"]:
            out.print(f"{attempt['attempted_at']} {attempt['outcome']} {', '.join(attempt['tags'])}", highlight=False)
            if attempt.get("notes"):
                out.print(f"  {attempt['notes']}", markup=False, highlight=False)
    if case["messages"]:
        out.rule(str(_text("messages")))
        for message in case["messages"]:
            out.print(
                f"{message['at']} {message['direction']} {message['kind']}: {message.get('subject') or ''}",
                markup=False,
            )
    _print_script(case.get("script"))


@app.command("attempt")
def attempt(
    case_id: str,
    *,
    outcome: Annotated[str, typer.Option(help="reached, no_answer, voicemail, wrong_number or declined.")],
    notes: Annotated[str | None, typer.Option(help="What was said (5,000 characters at most).")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="An irritant tag (repeat for several).")] = None,
    score: Annotated[int | None, typer.Option(help="The score the customer confirmed or gave on the phone.")] = None,
    promise: Annotated[str | None, typer.Option(help="none, solution_now or improvement_loop.")] = None,
    follow_up: Annotated[
        bool | None, typer.Option("--follow-up/--no-follow-up", help="The customer wants to hear back.")
    ] = None,
    second_exchange: Annotated[bool, typer.Option(help="This call delivered the promised answer.")] = False,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Log a call attempt (logged once even if the request is retried)."""
    body: dict[str, Any] = {"outcome": outcome, "tags": tag or [], "second_exchange": second_exchange}
    optional = {"notes": notes, "confirmed_score": score, "promise": promise, "wants_follow_up": follow_up}
    body.update({key: value for key, value in optional.items() if value is not None})
    headers = {"Idempotency-Key": f"cli-{uuid.uuid4()}"}
    answer = _call(api_url, "POST", f"/cases/{case_id}/attempts", json=body, headers=headers)
    console().print(_text("logged").format(outcome=outcome, status=_status(answer["case"]["status"])), highlight=False)


def _version(api_url: str, case_id: str, version: int | None) -> int:
    return version if version is not None else int(_call(api_url, "GET", f"/cases/{case_id}")["version"])


@app.command("reassign")
def reassign(
    case_id: str,
    to: Annotated[str, typer.Option(help="The caller: an email or a staff id.")],
    version: Annotated[int | None, typer.Option(help="The version you read (default: read it now).")] = None,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Give a case to an active caller (managers)."""
    body: dict[str, Any] = {"version": _version(api_url, case_id, version)}
    body["to_email" if "@" in to else "to_staff_id"] = to
    moved = _call(api_url, "POST", f"/cases/{case_id}/reassign", json=body)
    console().print(_text("moved").format(id=case_id, assignee=moved["assignee_id"], assignment=moved["assignment"]))


@app.command("hand-back")
def hand_back(
    case_id: str,
    version: Annotated[int | None, typer.Option(help="The version you read (default: read it now).")] = None,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Give one of my cases back: it goes to another caller."""
    moved = _call(api_url, "POST", f"/cases/{case_id}/hand-back", json={"version": _version(api_url, case_id, version)})
    console().print(_text("moved").format(id=case_id, assignee=moved["assignee_id"], assignment=moved["assignment"]))


@taxonomy_app.command("list")
def list_tags(api_url: api.ApiOption = api.LOCAL_API) -> None:
    """Every irritant tag, with its labels and department."""
    tags = _call(api_url, "GET", "/taxonomy")["tags"]
    table = Table()
    for column in ("tag", "fr", "en", "department", "", "version"):
        table.add_column(column)
    for tag in tags:
        state = _text("active") if tag["active"] else _text("inactive")
        table.add_row(tag["tag"], tag["label_fr"], tag["label_en"], tag["department"] or "", state, str(tag["version"]))
    console().print(table)


@taxonomy_app.command("add")
def add_tag(
    tag: str,
    label_fr: Annotated[str, typer.Option("--fr", help="The label in French.")],
    label_en: Annotated[str, typer.Option("--en", help="The label in English.")],
    department: Annotated[str | None, typer.Option(help="The department that owns it (a slug).")] = None,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Add an irritant tag (managers)."""
    body: dict[str, Any] = {"tag": tag, "label_fr": label_fr, "label_en": label_en}
    if department:
        body["department"] = department
    saved = _call(api_url, "POST", "/taxonomy", json=body)
    console().print(_text("tag_saved").format(tag=saved["tag"], version=saved["version"]))


@taxonomy_app.command("edit")
def edit_tag(
    tag: str,
    *,
    label_fr: Annotated[str | None, typer.Option("--fr", help="The label in French.")] = None,
    label_en: Annotated[str | None, typer.Option("--en", help="The label in English.")] = None,
    department: Annotated[str | None, typer.Option(help='The department ("" removes it).')] = None,
    active: Annotated[bool | None, typer.Option("--active/--retire", help="Offer it, or no longer.")] = None,
    version: Annotated[int | None, typer.Option(help="The version you read (default: read it now).")] = None,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Change a tag's labels or department, or retire it (managers; a tag is never deleted)."""
    if version is None:
        found = [item for item in _call(api_url, "GET", "/taxonomy")["tags"] if item["tag"] == tag]
        if not found:
            api.fail(f"no such tag: {tag}")
        version = int(found[0]["version"])
    body: dict[str, Any] = {"version": version}
    changes = {"label_fr": label_fr, "label_en": label_en, "department": department, "active": active}
    body.update({key: value for key, value in changes.items() if value is not None})
    saved = _call(api_url, "PATCH", f"/taxonomy/{tag}", json=body)
    console().print(_text("tag_saved").format(tag=saved["tag"], version=saved["version"]))
