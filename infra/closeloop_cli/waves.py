"""`closeloop waves ...`: create, list, show, preview, test-send and cancel survey waves."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from closeloop_cli import api

app = typer.Typer(help="Survey waves: create, list, show, preview, test-send and cancel.", no_args_is_help=True)


def console() -> Console:
    """A console for this command (made now, so that it measures the terminal it runs in)."""
    return Console()


TEXTS = {
    "fr": {
        "waves": "Vagues",
        "name": "nom",
        "status": "statut",
        "starts": "début",
        "target": "cible",
        "targeted": "ciblés",
        "sent": "envoyés",
        "everyone": "tout le monde",
        "created": "Vague créée : {id} (début {starts}, rappel {reminder}, clôture {closes})",
        "cancelled": "Vague {id} annulée.",
        "test_sent": "E-mail de test envoyé à {to} : « {subject} »",
        "counts": "Compteurs",
        "statuses": {
            "planned": "planifiée",
            "sending": "en cours d'envoi",
            "sent": "envoyée",
            "closed": "clôturée",
            "cancelled": "annulée",
        },
        "count_names": {
            "targeted": "ciblés",
            "reserved": "réservés",
            "sent": "envoyés",
            "failed": "en échec",
            "uncertain": "incertains",
            "delivered": "délivrés",
            "reminded": "relancés",
            "responded": "répondants",
            "suppressed": "ignorés (désinscrits)",
            "pressure_gap": "ignorés (sondés il y a moins de 3 mois)",
            "pressure_max": "ignorés (déjà sondés 2 fois en 12 mois)",
        },
    },
    "en": {
        "waves": "Waves",
        "name": "name",
        "status": "status",
        "starts": "starts",
        "target": "target",
        "targeted": "targeted",
        "sent": "sent",
        "everyone": "everyone",
        "created": "Wave created: {id} (starts {starts}, reminder {reminder}, closes {closes})",
        "cancelled": "Wave {id} cancelled.",
        "test_sent": "Test email sent to {to}: “{subject}”",
        "counts": "Counts",
        "statuses": {},
        "count_names": {
            "suppressed": "skipped (unsubscribed)",
            "pressure_gap": "skipped (surveyed less than 3 months ago)",
            "pressure_max": "skipped (surveyed twice in 12 months)",
        },
    },
}


def _text(key: str) -> Any:
    return TEXTS[api.language()][key]


def _call(api_url: str, method: str, path: str, **kwargs: Any) -> Any:
    return api.call(api_url, method, path, token=api.stored_token(api_url), **kwargs)


def _target(wave: dict[str, Any]) -> str:
    target = wave["target"]
    if target.get("everyone"):
        return str(_text("everyone"))
    return " + ".join(part for part in (", ".join(target["segments"]), ", ".join(target["languages"])) if part)


def _status(status: str) -> str:
    return str(_text("statuses").get(status, status))


Texts = Annotated[list[str] | None, typer.Option(help="fr=... or en=... (repeat for both languages).")]


def _texts(values: list[str] | None) -> dict[str, str] | None:
    if not values:
        return None
    texts = {}
    for value in values:
        language_code, separator, text = value.partition("=")
        if not separator or language_code not in ("fr", "en"):
            api.fail(f"write the text as fr=... or en=..., not {value!r}")
        texts[language_code] = text
    return texts


@app.command("create")
def create(
    *,
    name: Annotated[str, typer.Option(help="The wave's name, for staff.")],
    segment: Annotated[list[str] | None, typer.Option(help="A segment to survey (repeat for several).")] = None,
    lang: Annotated[list[str] | None, typer.Option("--language", help="Only contacts speaking fr or en.")] = None,
    everyone: Annotated[bool, typer.Option(help="Every contact.")] = False,
    starts_at: Annotated[str | None, typer.Option(help="ISO time with its offset; default now.")] = None,
    reminder_delay: Annotated[str | None, typer.Option(help="ISO-8601 duration, e.g. P7D (the default).")] = None,
    closes_at: Annotated[str | None, typer.Option(help="ISO time; default: the start + 21 days.")] = None,
    subject: Texts = None,
    intro: Texts = None,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Plan a wave; its start, reminder and closing are scheduled at once."""
    body: dict[str, Any] = {
        "name": name,
        "target": {"segments": segment or [], "languages": lang or [], "everyone": everyone},
    }
    optional = {
        "starts_at": starts_at,
        "reminder_delay": reminder_delay,
        "closes_at": closes_at,
        "subjects": _texts(subject),
        "intros": _texts(intro),
    }
    body.update({key: value for key, value in optional.items() if value is not None})
    wave = _call(api_url, "POST", "/waves", json=body)
    console().print(
        _text("created").format(
            id=wave["wave_id"], starts=wave["starts_at"], reminder=wave["reminder_at"], closes=wave["closes_at"]
        )
    )


@app.command("list")
def list_waves(api_url: api.ApiOption = api.LOCAL_API) -> None:
    """Every wave, the latest first."""
    waves = _call(api_url, "GET", "/waves")["waves"]
    table = Table(title=_text("waves"))
    table.add_column("wave_id", no_wrap=True, min_width=26)
    for column in ("name", "status", "starts", "target", "targeted", "sent"):
        table.add_column(str(TEXTS[api.language()].get(column, column)))
    for wave in waves:
        counts = wave["counts"]
        table.add_row(
            wave["wave_id"],
            wave["name"],
            _status(wave["status"]),
            wave["starts_at"],
            _target(wave),
            str(counts["targeted"]),
            str(counts["sent"]),
        )
    console().print(table)


@app.command("show")
def show(wave_id: str, api_url: api.ApiOption = api.LOCAL_API) -> None:
    """One wave: its plan, its texts and its counts."""
    wave = _call(api_url, "GET", f"/waves/{wave_id}")
    console().print(f"[bold]{wave['name']}[/bold] ({wave['wave_id']}): {_status(wave['status'])}, {_target(wave)}")
    table = Table(title=_text("counts"), show_header=False)
    names = _text("count_names")
    counts = dict(wave["counts"])
    skipped = counts.pop("skipped")
    for key in ("targeted", "reserved", "sent", "failed", "uncertain", "delivered", "reminded", "responded"):
        table.add_row(str(names.get(key, key)), str(counts[key]))
    for reason, value in skipped.items():
        table.add_row(str(names.get(reason, reason)), str(value))
    console().print(table)
    console().print_json(
        data={key: wave[key] for key in ("starts_at", "reminder_at", "closes_at", "subjects", "intros")}
    )


@app.command("preview")
def preview(
    wave_id: str,
    contact_id: Annotated[str, typer.Option(help="The contact to render the email for.")],
    html: Annotated[bool, typer.Option(help="Print the HTML too.")] = False,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """The wave's email to a contact, in French and in English."""
    answer = _call(api_url, "POST", f"/waves/{wave_id}/preview", json={"contact_id": contact_id})
    for code, rendered in answer["emails"].items():
        console().rule(f"{code}: {rendered['subject']}")
        console().print(rendered["text"], markup=False, highlight=False)
        if html:
            console().print(rendered["html"], markup=False, highlight=False)


@app.command("test-send")
def send_test(
    wave_id: str,
    to: Annotated[str, typer.Option(help="A staff address of the directory.")],
    lang: Annotated[str, typer.Option("--language", help="fr or en.")] = "fr",
    contact_id: Annotated[str | None, typer.Option(help="Render it for this contact.")] = None,
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Send the wave's email, marked as a test, to a staff address."""
    body: dict[str, Any] = {"to": to, "language": lang}
    if contact_id:
        body["contact_id"] = contact_id
    answer = _call(api_url, "POST", f"/waves/{wave_id}/test-send", json=body)
    console().print(_text("test_sent").format(to=answer["sent_to"], subject=answer["subject"]))


@app.command("cancel")
def cancel(wave_id: str, api_url: api.ApiOption = api.LOCAL_API) -> None:
    """Cancel a planned or sending wave: nothing more goes out."""
    _call(api_url, "POST", f"/waves/{wave_id}/cancel")
    console().print(_text("cancelled").format(id=wave_id))
