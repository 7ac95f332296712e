"""The `closeloop` command against a running local runtime: signing in and keeping the token."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from closeloop.services.directory import add_staff
from closeloop_cli import api
from closeloop_cli.main import app
from closeloop_local.runtime import Runtime

TEMPLATE = Path(__file__).with_name("template.yaml")


def test_login_stores_the_token_for_that_api_and_says_who_is_signed_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a running runtime (its own stage) with a staff member, and an empty configuration folder
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    with Runtime(
        TEMPLATE, port=0, seed=False, state_dir=tmp_path, echo_logs=False, parameters={"Stage": "cli"}
    ) as runtime:
        add_staff(email="hugo.bernard@example.com", name="Hugo Bernard", groups={"caller"}, staff_id="hugo")

        # When the person signs in with the command
        result = CliRunner().invoke(app, ["login", "--email", "hugo.bernard@example.com", "--api", runtime.url])

        # Then they are told who they are, and the token is kept for this API only, readable by them only
        assert result.exit_code == 0, result.output
        assert "hugo <hugo.bernard@example.com> (caller)" in result.output
        path = api.credentials_file()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert list(json.loads(path.read_text())) == [runtime.url]
        assert api.call(runtime.url, "GET", "/me")["email"] == "hugo.bernard@example.com"


def test_login_with_no_api_listening_fails_saying_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))

    result = CliRunner().invoke(app, ["login", "--email", "x@example.com", "--api", "http://127.0.0.1:9"])

    assert result.exit_code == 1
    assert "no closeloop API answers at http://127.0.0.1:9" in result.output
    assert not api.credentials_file().exists()
