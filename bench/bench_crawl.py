"""Benchmark: the crawl backfill, getRepo CARs from the devrelay into PostgreSQL.

Starts a throw-away PostgreSQL cluster (the test suite's PostgresCluster), a devrelay whose
history (``--accounts`` small repositories, plus one of ``--large-repo-records`` records) lies
before its replay window, and ``supervisor worker`` with BACKFILL_MODE=crawl and no rate limit to
speak of, its live cursor at the relay's last event. Reports, from one run:

- a network of small repositories: repositories/s and records/s;
- the network with the large repository: records/s and the worker's peak resident memory (VmHWM);
- the peer, measured in the same run: a plain ``COPY`` of the same rows (``record``'s columns, as
  the worker wrote them) into a table of the same shape, records/s;
- the load average at the start and the end.

Usage: python bench/bench_crawl.py [--accounts 300] [--events 30000] [--large-repo-records 100000]
       [--json] [--strict] [--profile FILE]   (FILE: py-spy samples of the large repository's worker)

Targets: at least 20,000 records/s, under 300 MB resident (exit 1 when missed, with --strict).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402
from common import WORKER, start_profiler  # noqa: E402
from conftest import PostgresCluster, _free_port, _pg_bin  # noqa: E402

TARGET_RATE = 20_000
TARGET_RSS_MB = 300


def _hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def start_relay(workdir: Path, *args: str) -> tuple[subprocess.Popen[str], str, int]:
    err = open(workdir / "relay.err", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "supervisor", "devrelay", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=err,
        text=True,
    )
    line = proc.stdout.readline() if proc.stdout else ""
    found = re.search(r"listening on (ws://\S+)", line)
    if not found:
        raise SystemExit(f"devrelay did not start: {line!r} {(workdir / 'relay.err').read_text()[-2000:]}")
    summary = (workdir / "relay.err").read_text()
    latest = re.search(r"latest seq (\d+)", summary)
    return proc, found.group(1), int(latest.group(1)) if latest else 0


def run_crawl(
    workdir: Path, dsn: str, relay_url: str, latest: int, name: str, profile: Optional[str] = None
) -> dict[str, Any]:
    """A worker crawling everything; returns its figures once the crawl is complete (``profile``: a
    file for py-spy's samples of the worker, collapsed stacks)."""
    http = "http://" + relay_url[len("ws://") :].split("/", 1)[0]
    log_path = workdir / f"{name}.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKFILL_", "FIREHOSE_", "WORKER_"))}
    env.update(
        {
            "DATABASE_URL": dsn,
            "RELAY_URL": relay_url,
            "PLC_DIRECTORY_URL": http,
            "BACKFILL_DAYS": "-1",
            "BACKFILL_MODE": "crawl",
            "BACKFILL_PDS_RATE": "100000",
            "BACKFILL_GLOBAL_RATE": "100000",
            "FIREHOSE_START_CURSOR": str(latest),
            "HEALTH_PORT": "0",
            "HEALTH_HOST": "127.0.0.1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    with open(log_path, "w") as log:
        proc = subprocess.Popen(WORKER, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    profiler = start_profiler(proc.pid, profile) if profile else None
    started = time.monotonic()
    try:
        url = None
        doc: dict[str, Any] = {}
        while time.monotonic() - started < 1800:
            if proc.poll() is not None:
                raise SystemExit(f"the worker exited: {log_path.read_text()[-3000:]}")
            if url is None:
                found = re.findall(r"listening on (http://\S+/health)", log_path.read_text())
                url = found[-1] if found else None
            if url is not None:
                try:
                    with urllib.request.urlopen(url, timeout=5) as reply:
                        doc = json.load(reply)["backfill"]
                except urllib.error.HTTPError as exc:
                    doc = json.load(exc)["backfill"]
                except OSError:
                    doc = {}
                if doc.get("state") == "complete":
                    break
            time.sleep(0.1)
        else:
            raise SystemExit("the crawl did not complete in 30 minutes")
        seconds = time.monotonic() - started
        peak = _hwm(proc.pid)
        log_text = log_path.read_text()
        first = re.search(r"(\d\d:\d\d:\d\d,\d+) INFO \[BACKFILL\] Listed", log_text)
        last = re.search(r"(\d\d:\d\d:\d\d,\d+) INFO \[BACKFILL\] Complete", log_text)

        def clock(text: str) -> float:
            h, m, rest = text.split(":")
            s, ms = rest.split(",")
            return int(h) * 3600 + int(m) * 60 + int(s) + int(ms) / 1000

        fetch_seconds = clock(last.group(1)) - clock(first.group(1)) if first and last else seconds
    finally:
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(30)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
    repos = doc.get("repos", {}).get("total", 0)
    records = doc.get("records", 0)
    return {
        "repos": repos,
        "records": records,
        "seconds": round(fetch_seconds, 3),
        "records_per_second": round(records / fetch_seconds, 1) if fetch_seconds else None,
        "repos_per_second": round(repos / fetch_seconds, 1) if fetch_seconds else None,
        "peak_rss_mb": round(peak / 1024 / 1024, 1),
    }


def copy_peer(dsn: str) -> dict[str, Any]:
    """A plain COPY of the rows the worker wrote into a table of the same shape (with its primary key)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        buffer = io.BytesIO()
        with conn.cursor().copy(
            "COPY (SELECT uri, cid, did, collection, rkey, json, rev, created_at FROM record) TO STDOUT"
        ) as copy:
            for chunk in copy:
                buffer.write(chunk)
        data = buffer.getvalue()
        conn.execute("CREATE TABLE record_peer (LIKE record INCLUDING ALL)")
        started = time.monotonic()
        with conn.transaction():
            with conn.cursor().copy(
                "COPY record_peer (uri, cid, did, collection, rkey, json, rev, created_at) FROM STDIN"
            ) as copy:
                for offset in range(0, len(data), 1 << 20):
                    copy.write(data[offset : offset + (1 << 20)])
        seconds = time.monotonic() - started
        (count,) = conn.execute("SELECT count(*) FROM record_peer").fetchone() or (0,)
    return {"records": count, "seconds": round(seconds, 3), "records_per_second": round(count / seconds, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=300)
    parser.add_argument("--events", type=int, default=30000)
    parser.add_argument("--large-repo-records", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--strict", action="store_true")
    parser.add_argument("--profile", metavar="FILE", help="Sample the large repository's worker with py-spy into FILE.")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-crawl-"))
    pg_root = Path(tempfile.mkdtemp(prefix="bench-crawl-pg-"))
    cluster = PostgresCluster(pg_root, _free_port(), _pg_bin())
    cluster.start()
    relays: list[subprocess.Popen[str]] = []
    load_start = os.getloadavg()[0]
    results: dict[str, Any] = {}
    try:
        network = ("--seed", "3", "--days", "30", "--retention-hours", "1")
        small_dir = root / "small"
        small_dir.mkdir()
        relay, url, latest = start_relay(
            small_dir, *network, "--accounts", str(args.accounts), "--events", str(args.events)
        )
        relays.append(relay)
        dsn = cluster.create_database("small")
        results["small"] = run_crawl(small_dir, dsn, url, latest, "small")
        results["small_peer_copy"] = copy_peer(dsn)
        relay.terminate()
        large_dir = root / "large"
        large_dir.mkdir()
        relay, url, latest = start_relay(
            large_dir, *network, "--accounts", "2", "--events", "100",
            "--large-repo-records", str(args.large_repo_records),
        )  # fmt: skip
        relays.append(relay)
        dsn = cluster.create_database("large")
        results["large"] = run_crawl(large_dir, dsn, url, latest, "large", args.profile)
        results["large_peer_copy"] = copy_peer(dsn)
    finally:
        for relay in relays:
            if relay.poll() is None:
                relay.terminate()
                relay.wait(10)
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(pg_root, ignore_errors=True)
    results["load_average"] = [round(load_start, 2), round(os.getloadavg()[0], 2)]
    rate = results["large"]["records_per_second"] or 0
    rss = results["large"]["peak_rss_mb"]
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        s, sp, lg, lp = results["small"], results["small_peer_copy"], results["large"], results["large_peer_copy"]
        print(f"small repositories: {s['repos']} repos, {s['records']} records in {s['seconds']} s:")
        print(f"  {s['repos_per_second']} repos/s, {s['records_per_second']} records/s; peak RSS {s['peak_rss_mb']} MB")
        print(f"  peer (plain COPY of the same rows): {sp['records_per_second']} records/s")
        print(f"large repository: {lg['records']} records in {lg['seconds']} s: {lg['records_per_second']} records/s")
        print(f"  peak RSS {lg['peak_rss_mb']} MB; peer (plain COPY): {lp['records_per_second']} records/s")
        print(f"load average {results['load_average'][0]} -> {results['load_average'][1]}")
        print(f"targets: {TARGET_RATE} records/s, < {TARGET_RSS_MB} MB")
    if args.strict and (rate < TARGET_RATE or rss >= TARGET_RSS_MB):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
