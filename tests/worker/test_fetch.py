"""getRepo over a real local HTTP server: streamed to a file, errors named, waits read from headers."""

from __future__ import annotations

import asyncio
import email.utils
import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from pathlib import Path
from typing import Any, Callable, Iterator

import httpx
import pytest

from supervisor.atproto import dagcbor
from supervisor.atproto.errors import AtprotoError, CarError
from supervisor.atproto.jsonfmt import to_json
from supervisor.atproto.repo import export_repo, load_repo
from supervisor.atproto.syntax import tid_from_time
from supervisor.worker.fetch import FetchError, fetch_repo, get_repo, retry_after

DID = "did:plc:fetchtest"
LARGE_DID = "did:plc:largerepo"
LARGE_RECORDS = 100_000
#: Peak resident memory a fetch plus a full walk of the 100,000-record repository (a CAR of about
#: 79 MB) may add to the process: the index and buffers, far below the CAR's own size.
MEMORY_CEILING_MB = 48

Handler = Callable[[http.server.BaseHTTPRequestHandler], None]


class Server:
    """A threaded HTTP server on 127.0.0.1; ``routes[did]`` answers that account's getRepo."""

    def __init__(self) -> None:
        routes: dict[str, Handler] = {}
        self.routes = routes

        class Reply(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:  # noqa: N802
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                route = routes.get(query.get("did", [""])[0])
                if route is None or not self.path.startswith("/xrpc/com.atproto.sync.getRepo?"):
                    send_json(self, 404, {"error": "RepoNotFound", "message": "no such repository"})
                    return
                route(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Reply)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def send_json(
    handler: http.server.BaseHTTPRequestHandler, status: int, body: object, headers: dict[str, str] | None = None
) -> None:
    raw = json.dumps(body).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(raw)))
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(raw)


def send_car(data: bytes | Path, *, chunk: int = 65536, length: bool = True, stop_after: int | None = None) -> Handler:
    """Serve a CAR (bytes or a file) in chunks; chunked transfer without ``length``; ``stop_after``
    bytes then drop the connection."""

    def handler(request: http.server.BaseHTTPRequestHandler) -> None:
        size = data.stat().st_size if isinstance(data, Path) else len(data)
        request.send_response(200)
        request.send_header("Content-Type", "application/vnd.ipld.car")
        if length:
            request.send_header("Content-Length", str(size))
        else:
            request.send_header("Transfer-Encoding", "chunked")
        request.end_headers()
        sent = 0
        source = data.open("rb") if isinstance(data, Path) else None
        try:
            while sent < size:
                piece = source.read(chunk) if source is not None else data[sent : sent + chunk]  # type: ignore[index]
                if stop_after is not None and sent + len(piece) > stop_after:
                    request.wfile.write(piece[: stop_after - sent] if length else b"")
                    request.wfile.flush()
                    request.close_connection = True
                    request.connection.shutdown(2)
                    return
                if length:
                    request.wfile.write(piece)
                else:
                    request.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
                sent += len(piece)
            if not length:
                request.wfile.write(b"0\r\n\r\n")
        finally:
            if source is not None:
                source.close()

    return handler


@pytest.fixture()
def server() -> Iterator[Server]:
    running = Server()
    yield running
    running.close()


def sample() -> bytes:
    records = {f"app.bsky.feed.post/{tid_from_time(1_700_000_000_000_000 + i)}": {"text": str(i)} for i in range(500)}
    return export_repo(DID, tid_from_time(1_700_000_100_000_000), records)


def fetch(server: Server, did: str = DID, **kwargs: Any) -> Any:
    async def run() -> Any:
        async with httpx.AsyncClient(timeout=10) as client:
            return await fetch_repo(client, server.url, did, max_bytes=kwargs.pop("max_bytes", 1 << 30), **kwargs)

    return asyncio.run(run())


@pytest.mark.parametrize("length", [True, False], ids=["content-length", "chunked"])
def test_fetch_repo_spools_what_the_host_serves(server, tmp_path, length):
    data = sample()
    server.routes[DID] = send_car(data, chunk=1000, length=length)
    with fetch(server, spool_dir=str(tmp_path)) as repo:
        whole = load_repo(data, verify=True)
        assert repo.commit == whole.commit
        assert repo.byte_count == len(data)
        assert [(r.path, r.cid, dagcbor.decode(r.block)) for r in repo.records()] == list(whole.records())


def test_the_size_limit_holds_with_and_without_a_declared_length(server, tmp_path):
    data = sample()
    server.routes[DID] = send_car(data, length=True)
    with pytest.raises(FetchError, match="bytes is more than the limit") as declared:
        fetch(server, max_bytes=len(data) - 1, spool_dir=str(tmp_path))
    assert declared.value.reason == "too_big"
    server.routes[DID] = send_car(data, length=False, chunk=4096)
    with pytest.raises(FetchError, match="more than the limit of") as streamed:
        fetch(server, max_bytes=len(data) - 1, spool_dir=str(tmp_path))
    assert streamed.value.reason == "too_big"
    with fetch(server, max_bytes=len(data), spool_dir=str(tmp_path)) as repo:
        assert repo.byte_count == len(data)


@pytest.mark.parametrize("name", ["RepoNotFound", "RepoTakendown", "RepoDeactivated", "RepoSuspended"])
def test_account_errors_keep_their_xrpc_names(server, name):
    server.routes[DID] = lambda request: send_json(request, 400, {"error": name, "message": "gone"})
    with pytest.raises(FetchError) as raised:
        fetch(server)
    assert raised.value.reason == name and raised.value.account_state
    assert raised.value.retry_after is None


def test_429_is_rate_limited_with_the_wait_the_host_asks_for(server):
    server.routes[DID] = lambda request: send_json(
        request, 429, {"error": "RateLimitExceeded"}, {"Retry-After": "7", "RateLimit-Reset": "999"}
    )
    with pytest.raises(FetchError) as raised:
        fetch(server)
    assert raised.value.reason == "rate_limited" and not raised.value.account_state
    assert raised.value.retry_after == 7.0


def test_503_is_unavailable_with_ratelimit_reset(server):
    server.routes[DID] = lambda request: send_json(request, 503, {"error": "Busy"}, {"RateLimit-Reset": "12"})
    with pytest.raises(FetchError) as raised:
        fetch(server)
    assert raised.value.reason == "unavailable" and raised.value.retry_after == 12.0


def test_500_has_no_wait_and_an_error_body_is_read_only_in_part(server):
    def huge(request: http.server.BaseHTTPRequestHandler) -> None:
        request.send_response(500)
        request.send_header("Transfer-Encoding", "chunked")
        request.send_header("Retry-After", "5")
        request.end_headers()
        try:
            for _ in range(100_000):  # endless unless the client stops reading
                request.wfile.write(b"1000\r\n" + b"e" * 4096 + b"\r\n")
        except OSError:
            pass

    server.routes[DID] = huge
    with pytest.raises(FetchError) as raised:
        fetch(server)
    assert raised.value.reason == "unavailable" and raised.value.retry_after is None
    assert "HTTP 500" in str(raised.value)


def test_a_dropped_connection_is_unavailable_and_leaves_no_file(server, tmp_path):
    data = sample()
    server.routes[DID] = send_car(data, chunk=1000, stop_after=len(data) // 2)
    with pytest.raises(FetchError) as raised:
        fetch(server, spool_dir=str(tmp_path))
    assert raised.value.reason == "unavailable"
    assert os.listdir(tmp_path) == []


def test_a_damaged_car_is_an_atproto_error(server, tmp_path):
    damaged = bytearray(sample())
    damaged[-5] ^= 0x40
    server.routes[DID] = send_car(bytes(damaged))
    with pytest.raises(CarError, match="does not match its CID"):
        fetch(server, spool_dir=str(tmp_path))
    server.routes[DID] = send_car(sample()[:-3], length=False)  # the host ends the body early, cleanly
    with pytest.raises(AtprotoError, match="ended inside a section"):
        fetch(server, spool_dir=str(tmp_path))


def test_get_repo_still_returns_the_whole_car(server):
    data = sample()
    server.routes[DID] = send_car(data)

    async def run() -> bytes:
        async with httpx.AsyncClient(timeout=10) as client:
            return await get_repo(client, server.url, DID)

    assert asyncio.run(run()) == data


def test_retry_after_reads_seconds_dates_and_ratelimit_reset():
    now = 1_800_000_000.0
    assert retry_after({"Retry-After": "30"}, now) == 30.0
    assert retry_after({"Retry-After": " 1.5 "}, now) == 1.5
    assert retry_after({"Retry-After": email.utils.formatdate(now + 90, usegmt=True)}, now) == 90.0
    assert retry_after({"Retry-After": email.utils.formatdate(now - 90, usegmt=True)}, now) == 0.0
    assert retry_after({"RateLimit-Reset": str(int(now) + 45)}, now) == 45.0  # epoch seconds
    assert retry_after({"RateLimit-Reset": "45"}, now) == 45.0  # seconds from now
    assert retry_after({"Retry-After": "soon", "RateLimit-Reset": "3"}, now) == 3.0
    assert retry_after({"Retry-After": "-4"}, now) == 0.0
    assert retry_after({"RateLimit-Reset": "nan"}, now) is None
    assert retry_after({"RateLimit-Reset": "later"}, now) is None
    assert retry_after({}, now) is None


# -- a 100,000-record repository, in a child process whose peak memory is measured --------------

CHILD = r"""
import asyncio, json, sys
import httpx
from supervisor.worker.fetch import fetch_repo

url, did, spool = sys.argv[1:4]

def status_mb(field):
    # VmHWM is this program's own peak (ru_maxrss would keep the parent's across exec).
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(field)

async def main():
    async with httpx.AsyncClient(timeout=120) as client:
        baseline = status_mb("VmRSS")
        repo = await fetch_repo(client, url, did, max_bytes=1 << 30, spool_dir=spool)
        count, ordered, previous, first = 0, True, "", None
        with repo:
            for record in repo.records():
                path = record.path
                ordered = ordered and path > previous
                previous = path
                first = first or path
                count += 1
        print(json.dumps({"count": count, "ordered": ordered, "first": first, "last": previous,
                          "rev": repo.commit.rev, "bytes": repo.byte_count,
                          "baseline_mb": baseline, "increase_mb": status_mb("VmHWM") - baseline}))

asyncio.run(main())
"""


def large_records() -> dict[str, dict[str, Any]]:
    filler = "lorem ipsum dolor sit amet " * 22
    collections = ("app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow")
    return {
        f"{collections[i % 3]}/{tid_from_time(1_600_000_000_000_000 + i * 1_000_003)}": {
            "$type": collections[i % 3],
            "text": f"{i} {filler}",
            "createdAt": "2024-01-01T00:00:00.000Z",
        }
        for i in range(LARGE_RECORDS)
    }


@pytest.fixture(scope="session")
def large_car(tmp_path_factory) -> tuple[Path, list[str]]:
    """The 100,000-record repository as a CAR file (built once per session), and its sorted keys."""
    records = large_records()
    path = tmp_path_factory.mktemp("large") / "repo.car"
    path.write_bytes(export_repo(LARGE_DID, tid_from_time(1_700_000_000_000_000), records))
    return path, sorted(records)


def test_a_100000_record_repository_is_streamed_under_the_memory_ceiling(server, tmp_path, large_car):
    path, keys = large_car
    server.routes[LARGE_DID] = send_car(path, chunk=256 * 1024, length=False)
    child = subprocess.run(
        [sys.executable, "-c", CHILD, server.url, LARGE_DID, str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert child.returncode == 0, child.stderr
    result = json.loads(child.stdout)
    assert result["count"] == LARGE_RECORDS == len(keys)
    assert result["ordered"] and result["first"] == keys[0] and result["last"] == keys[-1]
    assert result["bytes"] == path.stat().st_size > 70_000_000
    assert result["increase_mb"] < MEMORY_CEILING_MB, result
    assert os.listdir(tmp_path) == []
    print(f"100,000 records, {result['bytes'] / 1e6:.0f} MB CAR: peak RSS +{result['increase_mb']:.1f} MB")


def test_a_host_that_stalls_is_unavailable_once_the_client_times_out(server):
    release = threading.Event()

    def stall(request: http.server.BaseHTTPRequestHandler) -> None:
        request.send_response(200)
        request.send_header("Content-Type", "application/vnd.ipld.car")
        request.send_header("Content-Length", "1000")
        request.end_headers()
        request.wfile.write(sample()[:100])
        request.wfile.flush()
        release.wait(30)  # sends nothing more

    server.routes[DID] = stall

    async def run() -> Any:
        async with httpx.AsyncClient(timeout=httpx.Timeout(5, read=0.5)) as client:
            return await fetch_repo(client, server.url, DID, max_bytes=1 << 20)

    try:
        with pytest.raises(FetchError, match="ReadTimeout|timed out") as raised:
            asyncio.run(run())
        assert raised.value.reason == "unavailable"
    finally:
        release.set()


def test_every_repository_of_the_devrelay_is_fetched_to_its_truth(start_relay):
    """The project's development relay serves getRepo: each account's spooled repository holds exactly
    the truth's records (CIDs and values); an inactive account is refused by name."""
    relay = start_relay("--seed", "11", "--accounts", "25", "--events", "1500", "--days", "2")
    truth: dict[str, dict[str, tuple[str, Any]]] = {}
    for line in relay.truth.read_text().splitlines():
        row = json.loads(line)
        did, path = row["uri"][len("at://") :].split("/", 1)
        truth.setdefault(did, {})[path] = (row["cid"], row["record"])
    accounts = [json.loads(line) for line in relay.truth_accounts.read_text().splitlines()]
    host = f"http://127.0.0.1:{relay.port}"

    async def run() -> tuple[int, int]:
        fetched = records = 0
        async with httpx.AsyncClient(timeout=30) as client:
            for account in accounts:
                if not account["active"]:
                    with pytest.raises(FetchError) as raised:
                        await fetch_repo(client, host, account["did"], max_bytes=1 << 26)
                    assert raised.value.account_state, raised.value
                    continue
                with await fetch_repo(client, host, account["did"], max_bytes=1 << 26) as repo:
                    assert repo.commit.did == account["did"]
                    got = {r.path: (str(r.cid), to_json(dagcbor.decode(r.block))) for r in repo.records()}
                assert got == truth.get(account["did"], {})
                fetched += 1
                records += len(got)
        return fetched, records

    fetched, records = asyncio.run(run())
    active = [a for a in accounts if a["active"]]
    assert fetched == len(active) >= 15 and len(active) < len(accounts)
    assert records == sum(len(truth.get(a["did"], {})) for a in accounts if a["active"]) > 100
