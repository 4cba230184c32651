"""Commands: ``supervisor firehose decode|capture`` and ``supervisor repo dump|inspect``."""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from typing import Any

import click

from supervisor.atproto import endpoints
from supervisor.atproto.capture_io import iter_capture
from supervisor.atproto.dagcbor import decode
from supervisor.atproto.errors import AtprotoError, CaptureError, DecodeError
from supervisor.atproto.frames import Account, Commit, ErrorFrame, Identity, Info, Sync, Unknown, decode_frame
from supervisor.atproto.jsonfmt import to_json
from supervisor.atproto.repo import load_repo
from supervisor.atproto.validate import frame_problems
from supervisor.cli.base import EXIT_FINDINGS, EXIT_OK, EXIT_USAGE, fail, main
from supervisor.files import open_input, read_input
from supervisor.secrets import mask_text

__all__ = ["firehose", "repo", "frame_to_json", "subscribe_url"]

SUBSCRIBE_PATH = endpoints.SUBSCRIBE_PATH


#: A capture whose frames stop decoding for this long is not a capture (or is damaged beyond use).
MAX_MALFORMED_RUN = 1000
#: The largest repository CAR that ``repo dump``/``repo inspect`` load (they hold it in memory).
MAX_CAR_BYTES = 1 << 30


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
        return {
            "seq": frame.seq,
            "type": "#account",
            "did": frame.did,
            "time": frame.time,
            "active": frame.active,
            "status": frame.status,
        }
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


@main.group("firehose", short_help="Record and decode firehose captures.")
def firehose() -> None:
    """Record and decode com.atproto.sync.subscribeRepos streams."""


@firehose.command("decode")
@click.argument("capture", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["jsonl", "count"]),
    default="jsonl",
    show_default=True,
    help="One JSON line per frame, or totals per type and the decode rate.",
)
def decode_command(capture: str, fmt: str) -> None:
    """Decode a capture ([u32 LE length][frame] records) into JSON lines.

    Exit 1 if any frame was malformed (each gets a {"type": "malformed"} line) or has values
    that break the specification (a {"type": "invalid"} line with its problems: negative seq,
    an unknown action, a path that is not collection/record-key, a DID that is not one, ...),
    2 if the file is truncated, unreadable, or not a capture (1000 malformed frames in a row).
    """
    malformed = invalid = 0
    counts: Counter[str] = Counter()
    out = sys.stdout
    started = time.perf_counter()
    truncated: CaptureError | None = None
    try:
        with open_input(capture) as fh:
            try:
                run = 0  # consecutive malformed frames
                for offset, data in iter_capture(fh):
                    try:
                        frame = decode_frame(data)
                    except DecodeError as exc:
                        malformed += 1
                        run += 1
                        counts["malformed"] += 1
                        if fmt == "jsonl":
                            out.write(json.dumps({"type": "malformed", "offset": offset, "error": str(exc)}) + "\n")
                        if run >= MAX_MALFORMED_RUN:
                            truncated = CaptureError(f"{run} malformed frames in a row: giving up", offset)
                            break
                        continue
                    run = 0
                    problems = frame_problems(frame)
                    if problems:
                        invalid += 1
                        counts["invalid"] += 1
                        if fmt == "jsonl":
                            out.write(
                                json.dumps(
                                    {
                                        "type": "invalid",
                                        "offset": offset,
                                        "frame": _count_key(frame),
                                        "problems": problems,
                                    },
                                    ensure_ascii=False,
                                )
                                + "\n"
                            )
                        continue
                    counts[_count_key(frame)] += 1
                    if fmt == "jsonl":
                        out.write(json.dumps(frame_to_json(frame), ensure_ascii=False) + "\n")
            except CaptureError as exc:
                truncated = exc
    except BrokenPipeError:
        raise  # the reader of our output went away (| head): not a problem of the capture file
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
        decoded = sum(n for key, n in counts.items() if key != "malformed")
        hint = (
            " (is it a capture file? `supervisor firehose capture` writes them)"
            if not decoded
            else "; the frames before the damage were printed"
        )
        fail(f"error: {capture}: {truncated}{hint}", EXIT_USAGE)
    if malformed or invalid:
        parts = [f"{malformed} malformed frame(s)"] if malformed else []
        parts += [f"{invalid} frame(s) with invalid fields"] if invalid else []
        click.echo(f"{capture}: {', '.join(parts)}", err=True)
        sys.exit(EXIT_FINDINGS)
    sys.exit(EXIT_OK)


def subscribe_url(relay: str, cursor: int | None = None) -> str:
    """The WebSocket URL for ``--relay`` (see :mod:`supervisor.atproto.endpoints`)."""
    try:
        return endpoints.subscribe_url(relay, cursor)
    except ValueError as exc:
        raise click.BadParameter(f"{mask_text(relay)!r} {exc}", param_hint="--relay") from None


@firehose.command("capture")
@click.option(
    "--relay",
    required=True,
    metavar="URL",
    help="ws://HOST:PORT (the subscribeRepos path is added) or a full WebSocket URL.",
)
@click.option("--cursor", type=click.IntRange(min=0), default=None, help="Start from this sequence number.")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after this many frames.")
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False, writable=True), help="Capture file to write."
)
def capture_command(relay: str, cursor: int | None, count: int | None, output: str) -> None:
    """Record a relay's frames verbatim into a capture file, until --count, the relay closes, or Ctrl-C.

    Exit 0 when frames were recorded (Ctrl-C included: what arrived is kept), 2 when the relay
    cannot be reached (an existing OUTPUT is then left untouched) or OUTPUT cannot be written.
    """
    from supervisor.worker.capture import CaptureFailed, record

    url = subscribe_url(relay, cursor)
    try:
        received = record(url, output, count=count, on_status=lambda line: click.echo(line, err=True))
    except CaptureFailed as exc:
        fail(f"error: {exc}", EXIT_USAGE)
    click.echo(f"wrote {received} frames to {output}", err=True)


@main.group("repo", short_help="Read repository CAR files.")
def repo() -> None:
    """Read repository CAR files (as com.atproto.sync.getRepo returns them)."""


def _load(path: str):
    try:
        data = read_input(path, MAX_CAR_BYTES)
    except OSError as exc:
        fail(f"error: {path}: {exc.strerror or exc}", EXIT_USAGE)
    try:
        return load_repo(data, verify=True)
    except AtprotoError as exc:
        fail(f"error: {path}: {exc} (expected a repository CAR file, as com.atproto.sync.getRepo returns)", EXIT_USAGE)


@repo.command("dump")
@click.argument("car", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["tsv", "jsonl"]),
    default="tsv",
    show_default=True,
    help="collection/rkey<TAB>cid lines, or JSON lines that add the record.",
)
def dump_command(car: str, fmt: str) -> None:
    """List every record of a repository CAR in key order.

    Exit 0 ok, 2 a broken or incomplete CAR (the records before the damage are printed).
    """
    loaded = _load(car)
    out = sys.stdout
    try:
        for path, cid in loaded.entries():
            block = loaded.blocks.get(cid)
            if block is None:
                out.flush()
                fail(f"error: {car}: the block of record {path} ({cid}) is missing: the CAR is incomplete", EXIT_USAGE)
            if fmt == "tsv":
                out.write(f"{path}\t{cid}\n")
            else:
                line = {"path": path, "cid": str(cid), "record": to_json(decode(block))}
                out.write(json.dumps(line, ensure_ascii=False) + "\n")
    except AtprotoError as exc:
        out.flush()
        fail(f"error: {car}: {exc}", EXIT_USAGE)


@repo.command("inspect")
@click.argument("car", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True, help="Output format."
)
def inspect_command(car: str, fmt: str) -> None:
    """Show a repository CAR's commit: DID, rev, data CID, version, record count.

    Exit 0 ok, 2 a broken or incomplete CAR.
    """
    loaded = _load(car)
    commit = loaded.commit
    try:
        entries = list(loaded.entries())
    except AtprotoError as exc:
        fail(f"error: {car}: {exc}", EXIT_USAGE)
    records = len(entries)
    missing = sum(1 for _path, cid in entries if cid not in loaded.blocks)
    if missing:
        fail(f"error: {car}: {missing} of {records} record blocks are missing: the CAR is incomplete", EXIT_USAGE)
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
