"""`make run` runs `closeloop local`: it starts, prints the URLs a person needs, serves, and stops on Ctrl-C."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import threading
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import free_port
from tests.support import ROOT

CLOSELOOP = ROOT / ".venv" / "bin" / "closeloop"


def test_closeloop_local_prints_its_urls_serves_and_stops_cleanly_on_ctrl_c() -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(CLOSELOOP), "local", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1"},
    )
    try:
        printed = _read_until(process, f"http://127.0.0.1:{port}/_local/clock", seconds=60)
        for path in ("/health", "/docs", "/openapi.json", "/me", "/_local/login"):
            assert f"http://127.0.0.1:{port}{path}" in printed, path
        threading.Thread(target=_drain, args=(process,), daemon=True).start()  # a full pipe would block it

        assert httpx.get(f"http://127.0.0.1:{port}/health", timeout=10).json() == {"status": "ok"}
        login = httpx.post(
            f"http://127.0.0.1:{port}/_local/login", json={"email": "sarah.collins@demo.closeloop.example"}
        )
        assert login.status_code == 200, "the demo company was seeded"

        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not _children_of(process.pid), "no worker process is left behind"


def _read_until(process: subprocess.Popen[bytes], needle: str, *, seconds: float) -> str:
    assert process.stdout is not None
    descriptor = process.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + seconds
    while needle.encode() not in seen:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"not printed within {seconds} s:\n{seen.decode(errors='replace')}"
        ready, _, _ = select.select([descriptor], [], [], min(remaining, 1.0))
        if ready:
            chunk = os.read(descriptor, 65536)
            assert chunk, f"stopped early:\n{seen.decode(errors='replace')}"
            seen += chunk
    return seen.decode(errors="replace")


def _drain(process: subprocess.Popen[bytes]) -> None:
    assert process.stdout is not None
    while os.read(process.stdout.fileno(), 65536):
        pass


def _children_of(pid: int) -> list[str]:
    children = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        match = re.search(r"^PPid:\s+(\d+)$", text, re.MULTILINE)
        if match and int(match.group(1)) == pid:
            children.append(status.parent.name)
    return children
