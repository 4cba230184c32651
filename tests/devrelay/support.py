"""Helpers shared by the relay tests: a running relay, frame collection, HTTP GETs, folds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.error
import urllib.request
from typing import Any, AsyncIterator, Iterable, Optional

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from supervisor.atproto import frames, jsonfmt
from supervisor.devrelay import DevRelay, RelayConfig, SynthConfig

#: 2025-01-01T00:00:00Z: a fixed "now" so runs are byte-identical.
NOW_US = 1_735_689_600_000_000


def synth(**overrides: Any) -> SynthConfig:
    """A small synthetic network; keyword arguments override the defaults."""
    values: dict[str, Any] = {"seed": 7, "accounts": 20, "events": 600, "days": 3.0, "now_us": NOW_US}
    values.update(overrides)
    return SynthConfig(**values)


def run(coro: Any, timeout: float = 60.0) -> Any:
    """Run ``coro`` on a fresh event loop, failing the test if it takes longer than ``timeout``."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


@contextlib.asynccontextmanager
async def running(config: RelayConfig) -> AsyncIterator[DevRelay]:
    """A started relay on a free port, stopped afterwards."""
    relay = DevRelay(config)
    await relay.start("127.0.0.1", 0)
    try:
        yield relay
    finally:
        await relay.stop()


def subscribe(url: str, **kwargs: Any) -> Any:
    """A client connection; closing does not wait long for a server still busy sending."""
    kwargs.setdefault("max_size", None)
    kwargs.setdefault("close_timeout", 0.5)
    return connect(url, **kwargs)


def subscribe_url(relay: DevRelay, cursor: Optional[object] = None) -> str:
    url = relay.subscribe_url
    return url if cursor is None else f"{url}?cursor={cursor}"


async def recv_decoded(ws: ClientConnection, timeout: float = 10.0) -> Any:
    """The next frame, decoded."""
    return frames.decode_frame(await asyncio.wait_for(ws.recv(), timeout))


async def collect(
    url: str, *, until_seq: Optional[int] = None, count: Optional[int] = None, timeout: float = 20.0
) -> list[Any]:
    """Decoded frames from a subscription until ``until_seq`` is seen, ``count`` frames, or close."""
    out: list[Any] = []
    async with subscribe(url) as ws:
        try:
            while True:
                frame = await recv_decoded(ws, timeout)
                out.append(frame)
                if count is not None and len(out) >= count:
                    break
                if until_seq is not None and getattr(frame, "seq", -1) >= until_seq:
                    break
        except ConnectionClosed:
            pass
    return out


async def http_get(url: str) -> tuple[int, str, bytes]:
    """``GET url`` in a thread: (status, content type, body), error statuses included."""

    def fetch() -> tuple[int, str, bytes]:
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.status, resp.headers.get("Content-Type", ""), resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("Content-Type", ""), exc.read()

    return await asyncio.get_running_loop().run_in_executor(None, fetch)


async def http_json(url: str) -> tuple[int, Any]:
    status, _ctype, body = await http_get(url)
    return status, json.loads(body)


def fold(decoded_frames: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Apply every commit op, in order, to a dict ``uri -> {"uri", "cid", "record"}``."""
    records: dict[str, dict[str, Any]] = {}
    for frame in decoded_frames:
        if not isinstance(frame, frames.Commit):
            continue
        for op in frame.ops:
            uri = f"at://{frame.did}/{op.path}"
            if op.action == "delete":
                records.pop(uri, None)
            else:
                assert op.record is not None, f"{uri}: record missing from the commit blocks"
                records[uri] = {"uri": uri, "cid": str(op.cid), "record": jsonfmt.to_json(op.record)}
    return records


def fold_accounts(decoded_frames: Iterable[Any]) -> dict[str, dict[str, Any]]:
    """Apply identity and account events to ``did -> {"did", "handle", "active", "status"}``."""
    accounts: dict[str, dict[str, Any]] = {}
    for frame in decoded_frames:
        did = getattr(frame, "did", None)
        if did is None:
            continue
        acct = accounts.setdefault(did, {"did": did, "handle": None, "active": True, "status": None})
        if isinstance(frame, frames.Identity) and frame.handle is not None:
            acct["handle"] = frame.handle
        elif isinstance(frame, frames.Account):
            acct["active"] = frame.active
            acct["status"] = None if frame.active else frame.status
    return accounts


def plain(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Truth record lines as a fold of frames gives them: ``uri``, ``cid`` and ``record`` only."""
    return [{"uri": row["uri"], "cid": row["cid"], "record": row["record"]} for row in rows]


def read_jsonl(path: Any) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fileobj:
        return [json.loads(line) for line in fileobj]
