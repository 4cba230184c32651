"""Several containers' output as one stream of lines, each prefixed with its container's name."""

from __future__ import annotations

import queue
import sys
import threading
from typing import Iterable, Iterator, Optional, TextIO

from supervisor.runtime.engine import Engine
from supervisor.runtime.errors import RuntimeFailure

__all__ = ["LineSplitter", "LogMultiplexer", "prefix_width"]

_COLOURS = ["36", "33", "32", "35", "34", "96", "93", "92", "95", "94"]


class LineSplitter:
    """Turns arbitrary byte chunks into complete text lines (sans-I/O)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, chunk: bytes) -> list[str]:
        """Add bytes; return the lines they completed."""
        self._buffer += chunk
        *lines, self._buffer = self._buffer.split(b"\n")
        return [line.rstrip(b"\r").decode("utf-8", "replace") for line in lines]

    def flush(self) -> list[str]:
        """The unterminated rest, if any."""
        rest, self._buffer = self._buffer, b""
        return [rest.decode("utf-8", "replace")] if rest else []


def prefix_width(names: Iterable[str]) -> int:
    """The column width compose pads container names to."""
    return max((len(n) for n in names), default=0)


class LogMultiplexer:
    """Reads each container's log stream in a thread and prints whole lines, prefixed, in arrival order."""

    def __init__(
        self,
        engine: Engine,
        targets: list[tuple[str, str]],
        *,
        follow: bool = False,
        tail: Optional[int] = None,
        since: Optional[int] = None,
        out: Optional[TextIO] = None,
        colour: Optional[bool] = None,
        prefix: bool = True,
    ):
        self.engine = engine
        self.targets = targets  # (container id, container name)
        self.follow = follow
        self.tail = tail
        self.since = since
        self.out = out or sys.stdout
        self.colour = self.out.isatty() if colour is None else colour
        self.prefix = prefix
        self._queue: "queue.Queue[tuple[Optional[str], str]]" = queue.Queue()
        self._threads: list[threading.Thread] = []
        self.width = prefix_width(name for _, name in targets)

    def _read(self, cid: str, name: str) -> None:
        splitter = LineSplitter()
        try:
            for chunk in self.engine.logs(cid, follow=self.follow, tail=self.tail, since=self.since):
                for line in splitter.feed(chunk):
                    self._queue.put((name, line))
            for line in splitter.flush():
                self._queue.put((name, line))
        except (RuntimeFailure, OSError) as exc:
            self._queue.put((name, f"(log stream ended: {exc})"))
        except Exception:  # the SDK raises its own errors when a followed container goes away
            pass
        finally:
            self._queue.put((None, name))

    def start(self) -> None:
        """Open every stream."""
        for cid, name in self.targets:
            thread = threading.Thread(target=self._read, args=(cid, name), daemon=True, name=f"logs-{name}")
            thread.start()
            self._threads.append(thread)

    def lines(self, stop: Optional[threading.Event] = None) -> Iterator[tuple[str, str]]:
        """``(container name, line)`` until every stream ends or ``stop`` is set."""
        open_streams = len(self.targets)
        while open_streams:
            if stop is not None and stop.is_set():
                return
            try:
                name, line = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            if name is None:
                open_streams -= 1
                continue
            yield name, line

    def format(self, name: str, line: str) -> str:
        """``name  | line`` with the name padded (and coloured on a terminal)."""
        if not self.prefix:
            return line
        label = f"{name:<{self.width}} | "
        if self.colour:
            index = [n for _, n in self.targets].index(name) % len(_COLOURS)
            label = f"\x1b[{_COLOURS[index]}m{label}\x1b[0m"
        return label + line

    def run(self, stop: Optional[threading.Event] = None) -> None:
        """Print everything (the caller handles Ctrl-C around this)."""
        self.start()
        for name, line in self.lines(stop):
            self.out.write(self.format(name, line) + "\n")
            self.out.flush()
