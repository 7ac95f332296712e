"""Starting and stopping the local runtime: what stops a start, and what a stop leaves behind."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from closeloop_local.runtime import Runtime, TemplateError

TEMPLATE = Path(__file__).with_name("template.yaml")


def test_a_template_with_an_unknown_resource_type_stops_the_start_naming_the_resource(tmp_path: Path) -> None:
    template = tmp_path / "template.yaml"
    template.write_text(
        TEMPLATE.read_text()
        + "\n  Mystery:\n    Type: Custom::Mystery\n    Properties:\n      ServiceToken: arn:aws:lambda:x\n"
    )

    with pytest.raises(TemplateError, match=r"Mystery: type Custom::Mystery is not known"):
        Runtime(template, port=0, seed=False, state_dir=tmp_path).start()


def test_the_runtime_stops_cleanly_leaving_no_worker_process(tmp_path: Path) -> None:
    # Given a running runtime (its own stage, so its tables do not meet the other tests' ones)
    # whose functions have warm workers
    runtime = Runtime(TEMPLATE, port=0, seed=False, state_dir=tmp_path, echo_logs=False, parameters={"Stage": "stop"})
    with runtime:
        assert httpx.get(f"{runtime.url}/flavour/a").status_code == 200
        assert httpx.get(f"{runtime.url}/flavour/b").status_code == 200
        workers = runtime.workers.pids()
        url = runtime.url
        assert len(workers) == 2

    # Then no worker is left, and the gateway no longer answers
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/flavour/a")
    assert os.environ.get("STAFF_TABLE") != "gateway-stop-staff"
