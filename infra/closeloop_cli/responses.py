"""`closeloop responses show ID`: a customer's answer and the mail of its thread."""

from __future__ import annotations

from typing import Any

import typer
from rich.console import Console

from closeloop_cli import api

app = typer.Typer(help="Survey responses and the customers' mail about them.", no_args_is_help=True)

TEXTS = {
    "fr": {
        "answer": "Note {score}/10 ({category}{unconfirmed}), le {at}",
        "unconfirmed": ", non confirmée",
        "no_answer": "Pas de réponse au questionnaire.",
        "comment": "Commentaire :",
        "messages": "Courriels ({count})",
        "no_messages": "Aucun courriel du client.",
        "kinds": {"reply": "réponse", "auto_reply": "réponse automatique", "unsubscribe_request": "désinscription"},
        "flags": {"unsubscribe_mention": "parle d'arrêter", "forwarded": "transféré"},
        "attachments": "Pièces jointes :",
        "to_read": "à lire",
        "categories": {"detractor": "détracteur", "passive": "passif", "promoter": "promoteur"},
    },
    "en": {
        "answer": "Score {score}/10 ({category}{unconfirmed}), on {at}",
        "unconfirmed": ", unconfirmed",
        "no_answer": "No answer to the survey.",
        "comment": "Comment:",
        "messages": "Mail ({count})",
        "no_messages": "No mail from the customer.",
        "kinds": {"reply": "reply", "auto_reply": "auto-reply", "unsubscribe_request": "unsubscribe"},
        "flags": {"unsubscribe_mention": "mentions stopping", "forwarded": "forwarded"},
        "attachments": "Attachments:",
        "to_read": "to read",
        "categories": {},
    },
}


def _text(key: str) -> Any:
    return TEXTS[api.language()][key]


@app.command("show")
def show(response_id: str, api_url: api.ApiOption = api.LOCAL_API) -> None:
    """A response (score, comment) and the customer's mail on its thread."""
    shown = api.call(api_url, "GET", f"/responses/{response_id}", token=api.stored_token(api_url))
    console = Console()
    console.print(f"[bold]{shown['response_id']}[/bold] (wave {shown['wave_id']}, contact {shown['contact_id']})")
    answer = shown["response"]
    if answer:
        category = _text("categories").get(answer["category"], answer["category"])
        unconfirmed = "" if answer["confirmed"] else _text("unconfirmed")
        console.print(
            _text("answer").format(
                score=answer["score"], category=category, unconfirmed=unconfirmed, at=answer["created_at"]
            )
        )
        if answer.get("comment"):
            console.print(f"{_text('comment')} ", end="")
            console.print(answer["comment"], markup=False, highlight=False)
    else:
        console.print(_text("no_answer"))
    messages: list[dict[str, Any]] = shown["messages"]
    if not messages:
        console.print(_text("no_messages"))
        return
    console.rule(_text("messages").format(count=len(messages)))
    for message in messages:
        labels = [_text("kinds").get(message["kind"], message["kind"])]
        labels += [_text("flags").get(flag, flag) for flag in message["flags"]]
        if message.get("attention") == "open":
            labels.append(_text("to_read"))
        console.print(f"[bold]{message['at']}[/bold] ({', '.join(labels)})", highlight=False)
        console.print(message.get("subject") or "", markup=False, highlight=False, style="dim")
        console.print(message.get("body") or "", markup=False, highlight=False)
        if message["attachment_names"]:
            console.print(f"{_text('attachments')} {', '.join(message['attachment_names'])}", markup=False)
        console.print()
