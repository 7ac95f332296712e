"""One small stack for the mail tests (receipt rules, EventBridge rules, SES events)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from closeloop_local.runtime import Runtime

TEMPLATE = Path(__file__).with_name("template.yaml")


@pytest.fixture(scope="package")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    state = tmp_path_factory.mktemp("mail-state")
    with Runtime(TEMPLATE, port=0, seed=False, state_dir=state, echo_logs=False) as started:
        yield started
