"""The `closeloop` command: run the system locally, sign in, and (later) work with its HTTP API.

Each area of the product adds its own sub-app here (`app.add_typer(contacts.app, name="contacts")`)
and talks to the API through closeloop_cli.api.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from closeloop_cli import api, cases, contacts, mail, responses, staff, waves

app = typer.Typer(
    name="closeloop",
    help="NPS Close the Loop: run it locally, sign in, and use its HTTP API.",
    no_args_is_help=True,
)
console = Console()
app.add_typer(contacts.app, name="contacts")
app.add_typer(waves.app, name="waves")
app.add_typer(mail.app, name="mail")
app.add_typer(responses.app, name="responses")
app.add_typer(staff.app, name="staff")
app.add_typer(cases.app, name="cases")


def _announce(entries: list[tuple[str, str]]) -> None:
    table = Table(title="closeloop is running locally (Ctrl-C to stop)", show_header=False, box=None)
    for label, where in entries:
        table.add_row(f"[bold]{label}[/bold]", where)
    console.print(table)
    console.file.flush()  # shown at once, even when the output goes to a pipe


@app.command()
def local(
    port: Annotated[int, typer.Option(help="Port of the local gateway.")] = 3000,
    template: Annotated[Path, typer.Option(help="The SAM template to run.")] = Path("template.yaml"),
    seed: Annotated[bool, typer.Option("--seed/--no-seed", help="Add the demo company on start.")] = True,
    smtp_port: Annotated[
        int, typer.Option(help="Port of the SMTP listener for mail coming back (SES receipt rules); 0: a free one.")
    ] = 2525,
) -> None:
    """Run the whole system on this machine: no AWS account, no Docker."""
    from closeloop_local.runtime import TemplateError, serve

    if not template.is_file():
        api.fail(f"no template at {template}: run this from the project's folder or give --template")
    try:
        serve(template, port=port, seed=seed, announce=_announce, smtp_port=smtp_port)
    except TemplateError as error:
        api.fail(f"the local runtime cannot run {template}: {error}")
    except OSError as error:
        api.fail(f"cannot start the local runtime: {error}")
    console.print("closeloop stopped.")


@app.command()
def login(
    email: Annotated[str, typer.Option(help="The email you sign in with (a staff member of the directory).")],
    api_url: api.ApiOption = api.LOCAL_API,
) -> None:
    """Sign in to a local closeloop as a staff member, and keep the token for the next commands."""
    answer = api.call(api_url, "POST", "/_local/login", json={"email": email})
    token = answer["id_token"]
    path = api.save_token(api_url, token, email=email, expires_in=int(answer.get("expires_in", 3600)))
    me = api.call(api_url, "GET", "/me", token=token)
    groups = ", ".join(me.get("groups") or []) or "no group"
    who = f"[bold]{me.get('name')}[/bold] <{me.get('email')}> ({groups})"
    console.print(f"Signed in to {api.base_url(api_url)} as {who}.")
    console.print(f"Token kept in {path}.", style="dim")


@app.command()
def token(api_url: api.ApiOption = api.LOCAL_API) -> None:
    """Print the token kept by `closeloop login`, to use with curl: -H "Authorization: Bearer ..."."""
    kept = api.stored_token(api_url)
    if not kept:
        api.fail(f"not signed in to {api.base_url(api_url)}: run `closeloop login --email ...` first")
    typer.echo(kept)


@app.command()
def me(api_url: api.ApiOption = api.LOCAL_API) -> None:
    """Who you are signed in as, and your groups."""
    answer = api.call(api_url, "GET", "/me", token=api.stored_token(api_url))
    console.print_json(data=answer)
