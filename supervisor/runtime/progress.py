"""A progress display for ``up``/``down``: one line per object, redrawn in place on a terminal.

Not on a terminal (CI, pipes) it prints one line per change, like compose's plain mode; in json
mode one JSON object per change, the lines ``docker compose --progress json`` prints:
``{"id":"Container p-db-1","status":"Started"}``; warnings as compose logs them
(``{"level":"warning","msg":...,"time":...}``, ``info`` likewise), other messages as ``{"tail":true,"text":...}``.
"""

from __future__ import annotations

import datetime
import json
import sys
import threading
import time
from typing import Any, Optional, TextIO

__all__ = ["Progress", "MODES", "compose_json"]

#: The values of ``--progress``, as compose takes them ("none" is compose's other name for quiet).
MODES = ("auto", "tty", "plain", "json", "quiet")

# Final states: the row stops its clock and shows "+" ("Ingesting" ends a worker's check).
_DONE = {
    "Created",
    "Started",
    "Running",
    "Healthy",
    "Built",
    "Removed",
    "Stopped",
    "Recreated",
    "Exited",
    "Killed",
    "Pulled",
    "Waiting done",
    "Ingesting",
    "Restarted",
}
_FAILED = {"Error", "Unhealthy", "Failed"}
_WARNED = {"Resource is still in use"}  # done, with a warning (compose's yellow rows)


def compose_json(doc: dict[str, Any]) -> str:
    """``doc`` as Go's ``json.Marshal`` writes it: no spaces, UTF-8, ``<``, ``>``, ``&`` escaped."""
    text = json.dumps(doc, separators=(",", ":"), ensure_ascii=False)
    for char, escape in (
        ("&", "\\u0026"),
        ("<", "\\u003c"),
        (">", "\\u003e"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
    ):
        text = text.replace(char, escape)
    return text


class Progress:
    """Tracks ``(kind, name) -> state`` and shows it; thread-safe."""

    def __init__(
        self,
        stream: Optional[TextIO] = None,
        *,
        tty: Optional[bool] = None,
        quiet: bool = False,
        json_lines: bool = False,
    ):
        self.stream = stream or sys.stderr
        self.json = json_lines
        self.tty = False if json_lines else (self.stream.isatty() if tty is None else tty)
        self.quiet = quiet
        self._lock = threading.RLock()
        self._rows: dict[tuple[str, str], list] = {}  # key -> [state, started, finished]
        self._drawn = 0
        self._stop = threading.Event()
        self._ticker: Optional[threading.Thread] = None

    def __enter__(self) -> "Progress":
        if self.tty and not self.quiet:
            self._ticker = threading.Thread(target=self._tick, daemon=True)
            self._ticker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop redrawing; the last frame stays on screen."""
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(1)
            self._ticker = None
        with self._lock:
            if self.tty and not self.quiet:
                self._draw()
            self._drawn = 0
            self._rows.clear()

    def update(self, kind: str, name: str, state: str) -> None:
        """Set the state of one object (``Container appview-db-1``: ``Starting``...)."""
        with self._lock:
            now = time.monotonic()
            row = self._rows.get((kind, name))
            if row is not None and row[0] == state:
                return
            if row is None:
                row = self._rows[(kind, name)] = [state, now, None]
            row[0] = state
            row[2] = now if (state in _DONE or state in _FAILED or state in _WARNED) else None
            if self.quiet:
                return
            if self.json:
                self.stream.write(compose_json({"id": f"{kind} {name}", "status": state}) + "\n")
            elif self.tty:
                self._draw()
            else:
                self.stream.write(f" {kind} {name}  {state}\n")
                self.stream.flush()

    def message(self, text: str, compose_text: Optional[str] = None) -> None:
        """A free line above the table (warnings, build output); ``compose_text``: the ``msg`` compose's
        JSON line has instead (``Warning: No resource found...``)."""
        with self._lock:
            if self.quiet:
                return
            if self.json:
                self.stream.write(self._json_message(text, compose_text) + "\n")
                self.stream.flush()
                return
            if self.tty and self._drawn:
                self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
                self._drawn = 0
            self.stream.write(text + "\n")
            if self.tty:
                self._draw()
            self.stream.flush()

    @staticmethod
    def _json_message(text: str, compose_text: Optional[str] = None) -> str:
        for level in ("warning", "info"):
            if text.startswith(level + ": "):
                now = datetime.datetime.now(datetime.timezone.utc).astimezone()
                return compose_json(
                    {
                        "level": level,
                        "msg": compose_text if compose_text is not None else text[len(level) + 2 :],
                        "time": now.isoformat(timespec="seconds").replace("+00:00", "Z"),
                    }
                )
        return compose_json({"tail": True, "text": text})

    def _tick(self) -> None:
        while not self._stop.wait(0.25):
            with self._lock:
                if any(r[2] is None for r in self._rows.values()):
                    self._draw()

    def _draw(self) -> None:
        if self._drawn:
            self.stream.write(f"\x1b[{self._drawn}F\x1b[J")
        now = time.monotonic()
        width = max((len(f"{k} {n}") for k, n in self._rows), default=0)
        lines = []
        for (kind, name), (state, started, finished) in self._rows.items():
            mark = "!" if state in _FAILED else ("~" if state in _WARNED else ("+" if finished is not None else "*"))
            elapsed = (finished or now) - started
            lines.append(f" {mark} {f'{kind} {name}':<{width}}  {state:<12} {elapsed:5.1f}s")
        for line in lines:
            self.stream.write(line + "\n")
        self._drawn = len(lines)
        self.stream.flush()
