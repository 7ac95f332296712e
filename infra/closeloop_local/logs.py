"""Where the lines of functions and of the runtime go: the console, prefixed, and one file per source."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import IO, TextIO


class LogSink:
    """Writes each line to .local/logs/<source>.log and, if asked, to the console as "source | line"."""

    def __init__(self, directory: Path, *, echo: bool = True, console: TextIO | None = None) -> None:
        self.directory = directory
        self.echo = echo
        self._console = console
        self._files: dict[str, IO[str]] = {}
        self._closed = False
        self._lock = threading.Lock()
        directory.mkdir(parents=True, exist_ok=True)

    def write(self, source: str, line: str) -> None:
        line = line.rstrip("\n")
        with self._lock:
            if not self._closed:
                file = self._files.get(source)
                if file is None:
                    file = self._files[source] = (self.directory / f"{source}.log").open("a", encoding="utf-8")
                file.write(line + "\n")
                file.flush()
            if self.echo:
                console = self._console or sys.stdout
                console.write(f"{source} | {line}\n")
                console.flush()

    def follow(self, source: str, fd: int) -> threading.Thread:
        """Copy the lines a process writes to this file descriptor until it closes; the fd is closed then."""

        def pump() -> None:
            with open(fd, "rb", closefd=True) as stream:
                for raw in stream:
                    self.write(source, raw.decode("utf-8", errors="replace"))

        thread = threading.Thread(target=pump, name=f"logs-{source}", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        with self._lock:
            self._closed = True
            for file in self._files.values():
                file.close()
            self._files.clear()
