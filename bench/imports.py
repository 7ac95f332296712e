"""Contact imports: rows per second, AWS calls per row, and the import function's peak memory.

The import function runs in this process against moto (in-process, tables created from
template.yaml). AWS calls are counted where they arrive, botocore's BaseClient._make_api_call,
so PynamoDB's own session and its retries count too (DESIGN Q6). Peak memory is the import
function's own (see below).

Peak memory is traced on a second import of the same file (every row read, validated and
compared, nothing written): moto's tables, filled before tracing starts, are not counted, and
what moto keeps of each request during the run is taken off the peak.

Prints `name: value` lines: measurements, not verdicts. `--rows 20000` for a quicker run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import tracemalloc
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REGION = "eu-west-1"


def contacts_csv(rows: int) -> bytes:
    """A French Excel-style file: cp1252, semicolons, decimal commas, one phone in three."""
    lines = ["Courriel;Prénom;Nom;Téléphone;Société;Segment;Langue;Poids"]
    for n in range(rows):
        phone = f"06 12 {n % 100:02d} {n // 100 % 100:02d} {n // 10000 % 100:02d}" if n % 3 == 0 else ""
        segment = ("pharmacie", "hopital", "medecin")[n % 3]
        lines.append(f"contact{n}@client-{n % 997}.example;Hélène;Dupré {n};{phone};Société {n % 997};{segment};fr;1,5")
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


class Calls:
    """Counts AWS calls by operation."""

    def __init__(self) -> None:
        from botocore.client import BaseClient

        self.counts: Counter[str] = Counter()
        self.original = BaseClient._make_api_call
        calls = self

        def counting(client: Any, operation: str, params: dict[str, Any]) -> Any:
            calls.counts[operation] += 1
            return calls.original(client, operation, params)

        BaseClient._make_api_call = counting  # type: ignore[method-assign]

    def restore(self) -> None:
        from botocore.client import BaseClient

        BaseClient._make_api_call = self.original  # type: ignore[method-assign]


def run_one(rows: int) -> dict[str, float]:
    """A fresh stack; `rows` rows imported, then the same file imported again under tracemalloc."""
    import boto3
    from moto import mock_aws

    from closeloop.caches import forget_all
    from closeloop_local.template import Pseudo, Resolver, provision
    from tests.integration.conftest import InProcess
    from tests.integration.imports_support import ImportContext, import_handler, s3_event
    from tests.support import TEMPLATE

    with mock_aws():
        resolved = provision(
            Resolver(TEMPLATE, parameters={"Stage": "bench"}, pseudo=Pseudo(region=REGION)), InProcess()
        )
        os.environ.update(resolved.globals_environment)
        os.environ.update(resolved.functions["ContactImportFunction"].environment)
        forget_all()
        from closeloop.services.imports import import_report, start_import

        data = contacts_csv(rows)
        s3 = boto3.client("s3", region_name=REGION)
        handler = import_handler()

        def upload() -> tuple[str, dict[str, Any]]:
            started = start_import("bench@closeloop.example")
            bucket = os.environ["UPLOADS_BUCKET"]
            key = f"imports/{started['import_id']}.csv"
            s3.put_object(Bucket=bucket, Key=key, Body=data)
            return started["import_id"], s3_event(bucket, key, len(data))

        import_id, event = upload()
        calls = Calls()
        began = time.perf_counter()
        try:
            handler(event, ImportContext(function_name="contact-import"))
        finally:
            seconds = time.perf_counter() - began
            calls.restore()
        counts = import_report(import_id)["counts"]
        if counts["created"] != rows:
            raise SystemExit(f"the bench import created {counts['created']} of {rows} contacts: {counts}")

        # The same file again: every row read, validated, compared; nothing written. moto's tables
        # were filled before tracing starts, so the peak is the function's own memory.
        import_id, event = upload()
        tracemalloc.start()
        try:
            handler(event, ImportContext(function_name="contact-import"))
            _, peak = tracemalloc.get_traced_memory()
            kept = tracemalloc.take_snapshot().filter_traces(
                [tracemalloc.Filter(True, "*/moto/*"), tracemalloc.Filter(True, "*/werkzeug/*")]
            )
        finally:
            tracemalloc.stop()
        peak -= sum(stat.size for stat in kept.statistics("filename"))  # what moto kept of its requests
        counts = import_report(import_id)["counts"]
        if counts["unchanged"] != rows:
            raise SystemExit(f"the second import of the bench file changed something: {counts}")
        forget_all()
    return {"seconds": seconds, "calls": float(sum(calls.counts.values())), "peak_mb": peak / 1e6}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the big import")
    args = parser.parse_args(argv)
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_LOG_LEVEL": "WARNING",
            "POWERTOOLS_METRICS_DISABLED": "true",
        }
    )
    for name in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        os.environ.pop(name, None)

    small = run_one(10_000)
    print(f"imports.calls_per_row.10000: {small['calls'] / 10_000:.3f}", flush=True)
    print(f"imports.rows_per_second.10000: {10_000 / small['seconds']:.0f}", flush=True)
    print(f"imports.peak_memory_mb.10000: {small['peak_mb']:.1f}", flush=True)
    big = run_one(args.rows)
    print(f"imports.rows_per_second.{args.rows}: {args.rows / big['seconds']:.0f}")
    print(f"imports.peak_memory_mb.{args.rows}: {big['peak_mb']:.1f}")


if __name__ == "__main__":
    main()
