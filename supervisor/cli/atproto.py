"""Commands: ``supervisor firehose decode|capture`` and ``supervisor repo dump|inspect``."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import Any, BinaryIO
from urllib.parse import urlencode, urlsplit, urlunsplit

import click

from supervisor.atproto.capture_io import iter_capture, write_capture_frame
from supervisor.atproto.errors import AtprotoError, CaptureError, DecodeError
from supervisor.atproto.frames import Account, Commit, ErrorFrame, Identity, Info, Sync, Unknown, decode_frame
from supervisor.atproto.jsonfmt import to_json
from supervisor.atproto.repo import load_repo
from supervisor.cli.base import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, fail, main

__all__ = ["firehose", "repo", "frame_to_json", "subscribe_url"]

SUBSCRIBE_PATH = "/xrpc/com.atproto.sync.subscribeRepos"


def frame_to_json(frame: Any) -> dict[str, Any]:
    """One decoded frame as the JSON object ``firehose decode`` prints."""
    if isinstance(frame, Commit):
        return {
            "seq": frame.seq,
            "type": "#commit",
            "did": frame.did,
            "rev": frame.rev,
            "time": frame.time,
            "since": frame.since,
            "ops": [
                {
                    "action": op.action,
                    "path": op.path,
                    "cid": str(op.cid) if op.cid is not None else None,
                    "record": to_json(op.record) if op.record is not None else None,
                }
                for op in frame.ops
            ],
        }
    if isinstance(frame, Identity):
        return {"seq": frame.seq, "type": "#identity", "did": frame.did, "time": frame.time, "handle": frame.handle}
    if isinstance(frame, Account):
        return {"seq": frame.seq, "type": "#account", "did": frame.did, "time": frame.time,
                "active": frame.active, "status": frame.status}
    if isinstance(frame, Sync):
        return {"seq": frame.seq, "type": "#sync", "did": frame.did, "rev": frame.rev, "time": frame.time}
    if isinstance(frame, Info):
        return {"type": "#info", "name": frame.name, "message": frame.message}
    if isinstance(frame, ErrorFrame):
        return {"type": "error", "error": frame.error, "message": frame.message}
    if isinstance(frame, Unknown):
        return {"type": frame.type}
    raise TypeError(f"not a frame: {frame!r}")


def _count_key(frame: Any) -> str:
    if isinstance(frame, Unknown):
        return f"unknown:{frame.type or '?'}"
    return frame.type


@main.group("firehose")
def firehose() -> None:
    """Record and decode com.atproto.sync.subscribeRepos streams."""


@firehose.command("decode")
@click.argument("capture", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["jsonl", "count"]), default="jsonl", show_default=True,
              help="One JSON line per frame, or totals per type and the decode rate.")
def decode_command(capture: str, fmt: str) -> None:
    """Decode a capture ([u32 LE length][frame] records) into JSON lines.

    Exit 1 if any frame was malformed (each gets a {"type": "malformed"} line), 2 if the
    file is truncated or unreadable.
    """
    malformed = 0
    counts: Counter[str] = Counter()
    out = sys.stdout
    started = time.perf_counter()
    truncated: CaptureError | None = None
    try:
        with open(capture, "rb") as fh:
            try:
                for offset, data in iter_capture(fh):
                    try:
                        frame = decode_frame(data)
                    except DecodeError as exc:
                        malformed += 1
                        counts["malformed"] += 1
                        if fmt == "jsonl":
                            out.write(json.dumps({"type": "malformed", "offset": offset, "error": str(exc)}) + "\n")
                        continue
                    counts[_count_key(frame)] += 1
                    if fmt == "jsonl":
                        out.write(json.dumps(frame_to_json(frame), ensure_ascii=False) + "\n")
            except CaptureError as exc:
                truncated = exc
    except OSError as exc:
        fail(f"error: {capture}: {exc.strerror or exc}", EXIT_USAGE)
    elapsed = time.perf_counter() - started
    if fmt == "count":
        total = sum(counts.values())
        for key in sorted(counts):
            click.echo(f"{key}\t{counts[key]}")
        click.echo(f"total\t{total}")
        rate = total / elapsed if elapsed > 0 else 0.0
        click.echo(f"elapsed\t{elapsed:.3f}s")
        click.echo(f"events/s\t{rate:.0f}")
    out.flush()
    if truncated is not None:
        fail(f"error: {capture}: {truncated}", EXIT_USAGE)
    if malformed:
        click.echo(f"{capture}: {malformed} malformed frame(s)", err=True)
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_OK)


def subscribe_url(relay: str, cursor: int | None = None) -> str:
    """The WebSocket URL for ``relay``: a host gets the subscribeRepos path appended."""
    if "://" not in relay:
        relay = "ws://" + relay
    parts = urlsplit(relay)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss"):
        raise click.BadParameter(f"unsupported scheme {parts.scheme!r} (use ws://, wss://, http:// or https://)",
                                 param_hint="--relay")
    if not parts.netloc:
        raise click.BadParameter(f"no host in {relay!r}", param_hint="--relay")
    path = parts.path if parts.path not in ("", "/") else SUBSCRIBE_PATH
    query = parts.query
    if cursor is not None:
        extra = urlencode({"cursor": cursor})
        query = f"{query}&{extra}" if query else extra
    return urlunsplit((scheme, parts.netloc, path, query, ""))


def _capture(url: str, out: BinaryIO, count: int | None, progress_every: float = 1.0) -> int:
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
    from websockets.sync.client import connect

    received = 0
    last = time.monotonic()
    try:
        # A short close timeout: when we stop early the relay keeps streaming and the close
        # handshake can stall behind unread frames.
        with connect(url, max_size=16 * 1024 * 1024, open_timeout=10, close_timeout=1) as ws:
            click.echo(f"connected to {url}", err=True)
            while count is None or received < count:
                try:
                    message = ws.recv()
                except ConnectionClosed:
                    click.echo("relay closed the connection", err=True)
                    break
                if isinstance(message, str):
                    message = message.encode("utf-8")
                write_capture_frame(out, message)
                received += 1
                now = time.monotonic()
                if now - last >= progress_every:
                    click.echo(f"{received} frames", err=True)
                    last = now
    except (InvalidURI, InvalidHandshake) as exc:
        fail(f"error: cannot subscribe to {url}: {exc}", EXIT_USAGE)
    except (OSError, TimeoutError) as exc:
        fail(f"error: cannot connect to {url}: {exc}", EXIT_USAGE)
    return received


@firehose.command("capture")
@click.option("--relay", required=True, metavar="URL",
              help="ws://HOST:PORT (the subscribeRepos path is added) or a full WebSocket URL.")
@click.option("--cursor", type=int, default=None, help="Start from this sequence number.")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after this many frames.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Capture file to write.")
def capture_command(relay: str, cursor: int | None, count: int | None, output: str) -> None:
    """Record a relay's frames verbatim into a capture file, until --count or Ctrl-C."""
    url = subscribe_url(relay, cursor)
    received = 0
    try:
        with open(output, "wb") as out:
            try:
                received = _capture(url, out, count)
            except KeyboardInterrupt:
                click.echo("interrupted", err=True)
    except OSError as exc:
        fail(f"error: {output}: {exc.strerror or exc}", EXIT_USAGE)
    click.echo(f"wrote {received} frames to {output}", err=True)


@main.group("repo")
def repo() -> None:
    """Read repository CAR files (as com.atproto.sync.getRepo returns them)."""


def _load(path: str):
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        fail(f"error: {path}: {exc.strerror or exc}", EXIT_USAGE)
    try:
        return load_repo(data)
    except AtprotoError as exc:
        fail(f"error: {path}: {exc}", EXIT_USAGE)


@repo.command("dump")
@click.argument("car", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["tsv", "jsonl"]), default="tsv", show_default=True,
              help="collection/rkey<TAB>cid lines, or JSON lines that add the record.")
def dump_command(car: str, fmt: str) -> None:
    """List every record of a repository CAR in key order."""
    loaded = _load(car)
    out = sys.stdout
    try:
        if fmt == "tsv":
            for path, cid in loaded.entries():
                out.write(f"{path}\t{cid}\n")
        else:
            for path, cid, record in loaded.records():
                line = {"path": path, "cid": str(cid), "record": to_json(record) if record is not None else None}
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
    except AtprotoError as exc:
        out.flush()
        fail(f"error: {car}: {exc}", EXIT_USAGE)


@repo.command("inspect")
@click.argument("car", type=click.Path(exists=True, dir_okay=False))
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def inspect_command(car: str, fmt: str) -> None:
    """Show a repository CAR's commit: DID, rev, data CID, version."""
    loaded = _load(car)
    commit = loaded.commit
    try:
        records = sum(1 for _ in loaded.entries())
    except AtprotoError as exc:
        fail(f"error: {car}: {exc}", EXIT_USAGE)
    info = {
        "did": commit.did,
        "rev": commit.rev,
        "data": str(commit.data),
        "version": commit.version,
        "commit": str(commit.cid),
        "records": records,
        "blocks": len(loaded.blocks),
    }
    if fmt == "json":
        click.echo(json.dumps(info, indent=2))
    else:
        width = max(len(key) for key in info)
        for key, value in info.items():
            click.echo(f"{key.ljust(width)}  {value}")
