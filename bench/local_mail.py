"""The local runtime's mail: SMTP receiving through the receipt rules, and SES events on sending.

Runs the small stack of tests/runtime/mail (a recorder function behind a receipt rule, an
EventBridge rule on SES events). Measures:
- SMTP: N messages, one connection each, sequentially; then the time until every receipt-rule
  invocation is done (drain);
- SES sends: the latency of SendEmail (v2, Raw) with a configuration set that has an EventBridge
  destination and with one that has none, from 8 threads at once, then the time until every event
  (Send + Delivery per email) reached its function; and the time a send spends in the tap itself
  (the rest of the difference is the load of the events' invocations on the one moto server).

Prints `name: value` lines: measurements, not verdicts. `--messages 50` for a quicker run.
"""

from __future__ import annotations

import argparse
import smtplib
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
TEMPLATE = ROOT / "tests" / "runtime" / "mail" / "template.yaml"
SENDERS = 8


def _raw(n: int, to: str) -> bytes:
    return (
        f"From: a{n}@client.test\r\nTo: {to}\r\nSubject: bench {n}\r\nX-Closeloop-Invitation: inv{n}\r\n\r\n"
        + "Bonjour, merci de me rappeler.\r\n" * 20
    ).encode()


def main() -> None:
    from closeloop_local import moto_taps
    from closeloop_local.runtime import Runtime

    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=200)
    count = parser.parse_args().messages
    with (
        tempfile.TemporaryDirectory() as state,
        Runtime(TEMPLATE, port=0, seed=False, state_dir=state, echo_logs=False) as runtime,
    ):
        to = "reply+abcdefghijkl@reply.example.test"
        began = time.perf_counter()
        for n in range(count):
            with smtplib.SMTP("127.0.0.1", runtime.smtp_port) as client:
                client.sendmail(f"a{n}@client.test", [to], _raw(n, to))
        accepted = time.perf_counter() - began
        drained = runtime.event_sources.drain(timeout=300)
        print(f"smtp_messages: {count}")
        print(f"smtp_accepted_per_second: {count / accepted:.0f}")
        print(f"smtp_all_invoked_seconds: {time.perf_counter() - began:.2f}")
        print(f"smtp_drained: {drained}")

        sesv2 = runtime.client("sesv2")
        taps: list[float] = []
        ses_events = runtime.event_sources.ses_events
        on_sent = ses_events._on_sent

        def timed_on_sent(mail: object) -> None:  # the time a send spends in the tap, on moto's thread
            start = time.perf_counter()
            on_sent(mail)  # type: ignore[arg-type]
            taps.append((time.perf_counter() - start) * 1000)

        ses_events._on_sent = timed_on_sent  # type: ignore[method-assign]
        moto_taps.listen(runtime.moto_port_in_use, on_sent=timed_on_sent)

        def send(n: int, configuration_set: str) -> float:
            start = time.perf_counter()
            sesv2.send_email(
                FromEmailAddress="nps@example.test",
                Destination={"ToAddresses": [f"success+{n}@simulator.amazonses.com"]},
                Content={"Raw": {"Data": _raw(n, f"success+{n}@simulator.amazonses.com")}},
                ConfigurationSetName=runtime.physical_name(configuration_set),
            )
            return (time.perf_counter() - start) * 1000

        for name, configuration_set in (("quiet", "QuietConfigurationSet"), ("events", "SendingConfigurationSet")):
            began = time.perf_counter()
            with ThreadPoolExecutor(SENDERS) as pool:
                latencies = list(pool.map(lambda n, cs=configuration_set: send(n, cs), range(count)))
            sent = time.perf_counter() - began
            drained = runtime.event_sources.drain(timeout=300)
            print(f"ses_send_{name}_ms_p50: {statistics.median(latencies):.1f}")
            print(f"ses_send_{name}_ms_p95: {statistics.quantiles(latencies, n=20)[-1]:.1f}")
            print(f"ses_send_{name}_per_second: {count / sent:.0f}")
            print(f"ses_send_{name}_all_events_delivered_seconds: {time.perf_counter() - began:.2f}")
            print(f"ses_send_{name}_drained: {drained}")
        print(f"ses_tap_ms_p50: {statistics.median(taps):.3f}")
        print(f"ses_tap_ms_max: {max(taps):.3f}")


if __name__ == "__main__":
    main()
