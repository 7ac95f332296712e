"""Reading inbound mail (closeloop/rules/inbound_mail.py): milliseconds per parse_mail, for the
hand-written replies of tests/unit/mail/ and for mail at the size limit (10 MiB of plain text, of
HTML, of quoted history, and 200 attachments). Pure Python, no AWS call.

Prints `name: value` lines: measurements, not verdicts. `--repeat 3` for a quicker run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "layers" / "closeloop"))

from closeloop.rules.inbound_mail import MAX_MAIL_BYTES, MAX_PARTS, parse_mail  # noqa: E402

FIXTURES = ROOT / "tests" / "unit" / "mail"
LINE = "Très bonne expérience avec la déléguée, mais les délais de livraison restent longs.\n"


def mail(content_type: str, body: str) -> bytes:
    head = f"From: a@example.fr\r\nSubject: Re: avis\r\nContent-Type: {content_type}\r\n\r\n".encode()
    data = head + body.encode()
    return data[:MAX_MAIL_BYTES]


def limit_mails() -> dict[str, bytes]:
    lines = MAX_MAIL_BYTES // len(LINE.encode()) + 1
    parts = "".join(
        f'--b\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename="f{n}.pdf"\r\n\r\n'
        f"{'JVBERi0xLjQK' * 100}\r\n"
        for n in range(MAX_PARTS)
    )
    return {
        "text_10mib": mail("text/plain; charset=utf-8", LINE * lines),
        "html_10mib": mail("text/html; charset=utf-8", f"<div>{LINE}</div><blockquote>{LINE}</blockquote>" * lines),
        "quoted_10mib": mail("text/plain; charset=utf-8", "> " + "> ".join([LINE] * lines)),
        "attachments_200": mail(
            'multipart/mixed; boundary="b"', "--b\r\nContent-Type: text/plain\r\n\r\nPJ\r\n" + parts
        ),
    }


def milliseconds(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    repeat = parser.parse_args().repeat
    replies = [path.read_bytes() for path in sorted(FIXTURES.glob("*.eml"))]
    per_reply = milliseconds(lambda: [parse_mail(raw) for raw in replies], repeat) / len(replies)
    print(f"inbound_mail.parse_ms.reply: {per_reply:.2f}")
    for name, raw in limit_mails().items():
        print(f"inbound_mail.parse_ms.{name}: {milliseconds(lambda raw=raw: parse_mail(raw), repeat):.0f}")


if __name__ == "__main__":
    main()
