"""The local SMTP listener: mail sent to it goes through the template's SES receipt rules.

A small SMTP server (RFC 5321) on the standard library: no auth, no TLS, on 127.0.0.1. It accepts
what smtplib and ordinary mail clients send: EHLO or HELO, MAIL FROM (with SIZE, BODY, SMTPUTF8
parameters), RCPT TO (several), DATA (dot-stuffing undone, line ends made CRLF), RSET, NOOP,
VRFY, HELP, QUIT; commands may be pipelined. A recipient no receipt rule covers is refused with
550, as SES refuses it; a message over 10 MB with 552 (at MAIL FROM when SIZE says so, else once
its data is read). An accepted message is handed to `deliver`, which answers the SES message id.
"""

from __future__ import annotations

import logging
import re
import socket
import socketserver
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from closeloop_local.receipt_rules import MAX_MESSAGE_BYTES, Envelope, MessageRefused

log = logging.getLogger(__name__)

HOSTNAME = "inbound-smtp.local"
MAX_RECIPIENTS = 50  # as SES receiving
MAX_LINE_BYTES = 64 * 1024  # a command line, or a line of data (longer lines are refused whole)
IDLE_SECONDS = 120
_PATH = re.compile(r"^\s*<(?P<address>[^>]*)>\s*(?P<params>.*)$")

Accepts = Callable[[str], bool]
Deliver = Callable[[bytes, Envelope], str]


@dataclass
class _Transaction:
    sender: str | None = None
    recipients: list[str] = field(default_factory=list)


class _Conversation(socketserver.StreamRequestHandler):
    server: SmtpServer
    timeout = IDLE_SECONDS

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reply(self, text: str) -> None:
        self.wfile.write(text.encode("utf-8") + b"\r\n")
        self.wfile.flush()

    def read_line(self) -> bytes | None:
        """One line without its end; None when the client is gone; b"\\0" marks a too long line."""
        line = self.rfile.readline(MAX_LINE_BYTES + 2)
        if not line:
            return None
        if not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):  # skip the rest of a too long line
                line = self.rfile.readline(MAX_LINE_BYTES)
            return b"\0"
        return line.rstrip(b"\r\n")

    def handle(self) -> None:
        try:
            self._converse()
        except (TimeoutError, ConnectionError, OSError) as exc:
            log.info("SMTP client left: %s", exc)

    def _converse(self) -> None:
        self.reply(f"220 {HOSTNAME} ESMTP closeloop local receiving (SES receipt rules)")
        transaction = _Transaction()
        while True:
            line = self.read_line()
            if line is None:
                return
            if line == b"\0":
                self.reply("500 5.5.2 Line too long")
                continue
            text = line.decode("utf-8", "replace")
            verb, _, argument = text.partition(" ")
            verb = verb.upper()
            if verb in ("EHLO", "HELO"):
                transaction = _Transaction()
                if verb == "HELO":
                    self.reply(f"250 {HOSTNAME}")
                else:
                    self.reply(
                        f"250-{HOSTNAME}\r\n250-SIZE {MAX_MESSAGE_BYTES}\r\n250-8BITMIME\r\n"
                        "250-PIPELINING\r\n250-SMTPUTF8\r\n250 ENHANCEDSTATUSCODES"
                    )
            elif verb == "MAIL":
                self._mail(argument, transaction)
            elif verb == "RCPT":
                self._recipient(argument, transaction)
            elif verb == "DATA":
                if self._data(transaction):
                    transaction = _Transaction()
            elif verb == "RSET":
                transaction = _Transaction()
                self.reply("250 2.0.0 Ok")
            elif verb == "NOOP":
                self.reply("250 2.0.0 Ok")
            elif verb == "VRFY":
                self.reply("252 2.1.5 Cannot verify the user, but will accept the message")
            elif verb == "HELP":
                self.reply("214 2.0.0 Commands: EHLO HELO MAIL RCPT DATA RSET NOOP VRFY HELP QUIT")
            elif verb == "QUIT":
                self.reply("221 2.0.0 Bye")
                return
            elif verb in ("STARTTLS", "AUTH"):
                self.reply("502 5.5.1 Not offered locally (no TLS, no authentication)")
            else:
                self.reply("500 5.5.2 Command not recognised")

    def _mail(self, argument: str, transaction: _Transaction) -> None:
        if transaction.sender is not None:
            self.reply("503 5.5.1 Sender already given")
            return
        match = _PATH.match(argument[5:]) if argument.upper().startswith("FROM:") else None
        if match is None:
            self.reply("501 5.5.4 Syntax: MAIL FROM:<address>")
            return
        for parameter in match["params"].split():
            name, _, value = parameter.partition("=")
            if name.upper() == "SIZE" and value.isdigit() and int(value) > MAX_MESSAGE_BYTES:
                self.reply("552 5.3.4 Message size exceeds the fixed limit (10 MB)")
                return
        transaction.sender = match["address"]
        self.reply("250 2.1.0 Ok")

    def _recipient(self, argument: str, transaction: _Transaction) -> None:
        if transaction.sender is None:
            self.reply("503 5.5.1 Need MAIL FROM first")
            return
        match = _PATH.match(argument[3:]) if argument.upper().startswith("TO:") else None
        if match is None or "@" not in match["address"]:
            self.reply("501 5.5.4 Syntax: RCPT TO:<address>")
            return
        if len(transaction.recipients) >= MAX_RECIPIENTS:
            self.reply("452 4.5.3 Too many recipients")
            return
        address = match["address"]
        if not self.server.accepts(address):
            self.reply(f"550 5.1.1 <{address}>: Recipient address rejected: no receipt rule covers it")
            return
        transaction.recipients.append(address)
        self.reply("250 2.1.5 Ok")

    def _data(self, transaction: _Transaction) -> bool:
        """Read one message and deliver it; True when the transaction is over."""
        if transaction.sender is None:
            self.reply("503 5.5.1 Need MAIL FROM first")
            return False
        if not transaction.recipients:
            self.reply("554 5.5.1 No valid recipients")
            return False
        self.reply("354 End data with <CR><LF>.<CR><LF>")
        chunks: list[bytes] = []
        size = 0
        too_long_line = False
        while True:
            line = self.read_line()
            if line is None:
                raise ConnectionError("the client left in the middle of DATA")
            if line == b".":
                break
            if line == b"\0":
                too_long_line = True
                continue
            if line.startswith(b"."):
                line = line[1:]
            size += len(line) + 2
            if size <= MAX_MESSAGE_BYTES:
                chunks.append(line)
        if size > MAX_MESSAGE_BYTES:
            self.reply("552 5.3.4 Message size exceeds the fixed limit (10 MB)")
            return True
        if too_long_line:
            self.reply("500 5.5.2 Line too long")
            return True
        raw = b"\r\n".join(chunks) + b"\r\n"
        try:
            message_id = self.server.deliver(raw, Envelope(transaction.sender or "", list(transaction.recipients)))
        except MessageRefused as refused:
            self.reply(f"{refused.code} {refused.reason}")
            return True
        except Exception:
            log.exception("a message received over SMTP could not be processed")
            self.reply("451 4.3.0 Local error in processing")
            return True
        self.reply(f"250 2.0.0 Ok: queued as {message_id}")
        return True


class SmtpServer(socketserver.ThreadingTCPServer):
    """Listens on (host, port) (0: a free port, read `port` after); serve in a thread of its own."""

    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, host: str, port: int, *, accepts: Accepts, deliver: Deliver) -> None:
        super().__init__((host, port), _Conversation)
        self.accepts = accepts
        self.deliver = deliver
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server_address[1])

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.1}, name="smtp", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        if self._thread is not None:
            self.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self.server_close()
