"""How long the local runtime takes to start the product's template, and to answer its first requests.

Prints `name: value` lines (DESIGN Q6): measurements, not verdicts.
"""

from __future__ import annotations

import socket
import tempfile
import time
from pathlib import Path

import httpx

from closeloop_local.runtime import Runtime

ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def main() -> None:
    with tempfile.TemporaryDirectory() as state:
        started = time.perf_counter()
        with Runtime(
            ROOT / "template.yaml",
            port=_free_port(),
            seed=True,
            state_dir=state,
            echo_logs=False,
            parameters={"Stage": "bench"},
        ) as runtime:
            start_seconds = time.perf_counter() - started
            with httpx.Client(base_url=runtime.url, timeout=30) as http:
                first = time.perf_counter()
                http.get("/health").raise_for_status()
                cold_ms = (time.perf_counter() - first) * 1000
                warm = []
                for _ in range(20):
                    began = time.perf_counter()
                    http.get("/openapi.json").raise_for_status()
                    warm.append((time.perf_counter() - began) * 1000)
    print(f"runtime.start_seconds: {start_seconds:.2f}")
    print(f"runtime.first_request_ms: {cold_ms:.0f}")
    print(f"runtime.warm_request_ms.median: {sorted(warm)[len(warm) // 2]:.1f}")


if __name__ == "__main__":  # the runtime's workers start through forkserver, which re-imports this module
    main()
