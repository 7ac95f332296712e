"""What every command that talks to a closeloop HTTP API shares: its address, the stored token, a client.

The API is the one given with --api, else $CLOSELOOP_API, else the local runtime. Tokens are kept
per API in ~/.config/closeloop/credentials.json (readable by its owner only).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import httpx
import typer
from rich.console import Console

LOCAL_API = "http://127.0.0.1:3000"

ApiOption = Annotated[
    str,
    typer.Option("--api", envvar="CLOSELOOP_API", help="Base URL of the closeloop HTTP API.", show_default=True),
]

errors = Console(stderr=True)


def fail(message: str) -> NoReturn:
    """Tell the person what went wrong and what to do, and end the command."""
    errors.print(f"[red]{message}[/red]")
    raise typer.Exit(1)


def base_url(api: str) -> str:
    return api.rstrip("/")


def credentials_file() -> Path:
    config = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return config / "closeloop" / "credentials.json"


def _read_credentials() -> dict[str, Any]:
    path = credentials_file()
    try:
        loaded = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError:
        fail(f"{path} is not valid JSON: delete it and sign in again")
    return loaded if isinstance(loaded, dict) else {}


def save_token(api: str, token: str, *, email: str, expires_in: int) -> Path:
    """Keep the token of this API (file mode 0600), next to those of other APIs."""
    credentials = _read_credentials()
    credentials[base_url(api)] = {"id_token": token, "email": email, "expires_at": int(time.time()) + expires_in}
    path = credentials_file()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        json.dump(credentials, file, indent=2)
    path.chmod(0o600)
    return path


def stored_token(api: str) -> str | None:
    """The token stored for this API, unless it expired."""
    entry = _read_credentials().get(base_url(api))
    if not isinstance(entry, dict) or int(entry.get("expires_at", 0)) <= time.time():
        return None
    token = entry.get("id_token")
    return token if isinstance(token, str) else None


def client(api: str, *, token: str | None = None) -> httpx.Client:
    """An HTTP client of the API, signed in with the given or stored token if there is one."""
    bearer = token or stored_token(api)
    headers = {"authorization": f"Bearer {bearer}"} if bearer else {}
    return httpx.Client(base_url=base_url(api), headers=headers, timeout=30.0)


def call(api: str, method: str, path: str, *, token: str | None = None, **kwargs: Any) -> Any:
    """One call to the API: its JSON answer, or a clear message and the end of the command."""
    try:
        with client(api, token=token) as http:
            response = http.request(method, path, **kwargs)
    except httpx.TransportError:
        fail(f"no closeloop API answers at {base_url(api)} (start one with: closeloop local)")
    if response.status_code == 401:
        fail(f"not signed in to {base_url(api)}: closeloop login --email YOU --api {base_url(api)}")
    try:
        answer = response.json()
    except ValueError:
        answer = {"message": response.text}
    if response.is_error:
        message = answer.get("message") if isinstance(answer, dict) else None
        fail(f"{method} {path}: {response.status_code} {message or response.reason_phrase}")
    return answer


def language() -> str:
    """The reader's language, from the usual locale variables (French when they say so)."""
    for name in ("CLOSELOOP_LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = os.environ.get(name, "")
        if value:
            return "fr" if value.lower().startswith("fr") else "en"
    return "en"
