"""Benchmark: events per second from the devrelay through ``supervisor worker`` into PostgreSQL.

Starts a throw-away PostgreSQL cluster (the test suite's PostgresCluster), a devrelay serving a
synthetic history of N events, and a worker whose live cursor row is seeded at 0 so that it reads
the history as fast as it can, committing batches with their cursor.  The devrelay encodes each
frame the first time it sends it, so the history is read once before the worker starts (unless
``--cold-relay``): the worker is then timed against a relay serving ready frames, as a real relay
does.  Reports, from one run:

- the worker's sustained rate (first connection -> last event committed) and PostgreSQL rows/s;
- the decode-only rate on the same frames (``decode_frame``, the field checks, then batch building, as the
  worker's stream runs them; CPU time, and CPU microseconds per event of each), for comparison;
- the worker's peak resident memory (VmHWM) and CPU seconds per 1000 events, and the CPU seconds
  per 1000 events of the devrelay and of PostgreSQL over the same interval (all three share the
  machine), the batches committed and the load average at the start and the end.

Usage: python bench/bench_worker.py [--events 50000] [--accounts 1000] [--json] [--strict]
       [--cold-relay] [--verify off|signatures|full] [--profile FILE]   (FILE: py-spy samples of the worker, collapsed stacks)
- the plain peer (``bench/peer_atproto.py``: the ``atproto`` SDK feeding psycopg ``COPY``) on the
  same stream right after, and the worker/peer ratio.

Targets: at least 15,000 events/s, 3x the peer, at most 300 MB resident (exit 1 when missed, with
--strict).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

import psycopg  # noqa: E402
from common import WORKER, seed_live_cursor, start_devrelay, start_profiler, start_worker, wait_for_cursor  # noqa: E402
from conftest import PostgresCluster, _free_port, _pg_bin  # noqa: E402

__all__ = ["WORKER", "receive_all", "decode_only", "run"]

TARGET_RATE = 15_000
#: The worker against the plain peer (bench/peer_atproto.py) on the same stream and machine.
TARGET_PEER_RATIO = 3.0
TARGET_RSS_MB = 300


def _proc_status(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return 0


def _cpu_seconds(pid: int, system: bool = False) -> float:
    """User + system CPU seconds of ``pid`` (only system time with ``system``)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    if system:
        return int(fields[12]) / os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _receive(url: str, count: int) -> list[bytes]:
    from websockets.asyncio.client import connect

    frames: list[bytes] = []
    async with connect(url + "/xrpc/com.atproto.sync.subscribeRepos?cursor=0", max_size=None, compression=None) as ws:
        while len(frames) < count:
            frames.append(await ws.recv())
    return frames


def receive_all(url: str, count: int) -> tuple[list[bytes], float]:
    """Read ``count`` frames from cursor 0; the frames and the rate (frames per second)."""
    started = time.perf_counter()
    frames = asyncio.run(_receive(url, count))
    return frames, count / (time.perf_counter() - started)


def decode_only(frames: list[bytes]) -> dict[str, float]:
    """Time decoding ``frames``, checking their fields and building batches in this process, as the
    worker's stream does (CPU time)."""
    from supervisor.atproto import frames as frame_codec
    from supervisor.atproto.validate import frame_problems
    from supervisor.worker.batch import BatchBuilder

    count = len(frames)
    started = time.process_time()
    decoded = [frame_codec.decode_frame(f, records=True) for f in frames]
    decode_seconds = time.process_time() - started
    started = time.process_time()
    checked = [event for event in decoded if not frame_problems(event)]
    check_seconds = time.process_time() - started
    builder = BatchBuilder()
    started = time.process_time()
    for event in checked:
        builder.add(event, checked=True)
        if builder.batch.events >= 1000:
            builder.take()
    build_seconds = time.process_time() - started
    return {
        "decode_per_s": count / decode_seconds,
        "decode_and_batch_per_s": count / (decode_seconds + check_seconds + build_seconds),
        "decode_us": decode_seconds / count * 1e6,
        "check_us": check_seconds / count * 1e6,
        "batch_us": build_seconds / count * 1e6,
    }


def _postgres_cpu_seconds(datadir: Path) -> float:
    """CPU seconds of the postmaster and its live children (the worker's backends among them)."""
    try:
        postmaster = int((datadir / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == postmaster or int(fields[1]) == postmaster:
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def _worker_metric(log_text: str, name: str) -> float | None:
    """The sum of a counter's samples from the worker's /metrics (None when unreachable)."""
    import urllib.request

    found = re.findall(r"listening on (http://\S+)/health", log_text)
    if not found:
        return None
    try:
        with urllib.request.urlopen(found[-1] + "/metrics", timeout=5) as reply:
            text = reply.read().decode()
    except OSError:
        return None
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name + "{") or line.startswith(name + " ")
    )


class HealthPoller:
    """Asks the worker's /health every 50 ms from a thread; the answer times (seconds)."""

    def __init__(self, url: str) -> None:
        import threading

        self.url = url
        self.times: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import urllib.error
        import urllib.request

        while not self._stop.wait(0.05):
            started = time.perf_counter()
            try:
                urllib.request.urlopen(self.url, timeout=10).read()
            except urllib.error.HTTPError as exc:
                exc.read()
            except OSError:
                continue
            self.times.append(time.perf_counter() - started)

    def stop(self) -> dict[str, float | None]:
        self._stop.set()
        self._thread.join(15)
        ordered = sorted(self.times)
        if not ordered:
            return {"health_answers": 0, "health_median_ms": None, "health_max_ms": None}
        return {
            "health_answers": len(ordered),
            "health_median_ms": round(ordered[len(ordered) // 2] * 1000, 1),
            "health_max_ms": round(ordered[-1] * 1000, 1),
        }


def run(
    events: int,
    accounts: int,
    profile: str | None = None,
    cold_relay: bool = False,
    batch_size: int | None = None,
    verify: str = "off",
) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="bench-worker-"))
    pg_root = Path(tempfile.mkdtemp(prefix="bench-worker-pg-"))
    cluster = PostgresCluster(pg_root, _free_port(), _pg_bin())
    cluster.start()
    relay = worker = None
    try:
        dsn = cluster.create_database("bench")
        seed_live_cursor(dsn)
        relay, url = start_devrelay(accounts, events, unsigned=verify == "off")
        # The devrelay encodes each frame the first time it sends it: read the history once so that
        # the worker is timed against a relay serving ready frames, as a real relay does.
        frames, first_read = ([], 0.0) if cold_relay else receive_all(url, events)

        log_path = root / "worker.log"
        env = {
            "LOG_LEVEL": "info",
            "PYTHONUNBUFFERED": "1",
            "VERIFY": verify,
            # The devrelay is the accounts' PLC directory (without it, every look-up goes to the public one).
            "PLC_DIRECTORY_URL": "http://" + url[len("ws://") :].split("/", 1)[0],
            **({"FIREHOSE_BATCH_SIZE": str(batch_size)} if batch_size else {}),
        }
        worker = start_worker(dsn, url, log_path, env)
        profiler = start_profiler(worker.pid, profile) if profile else None
        poller = HealthPoller(re.findall(r"listening on (http://\S+/health)", log_path.read_text())[-1])
        started = time.perf_counter()
        cpu_start = _cpu_seconds(worker.pid)
        sys_start = _cpu_seconds(worker.pid, system=True)
        relay_cpu_start = _cpu_seconds(relay.pid)
        pg_cpu_start = _postgres_cpu_seconds(cluster.datadir)
        load_start = os.getloadavg()[0]
        with psycopg.connect(dsn, autocommit=True) as conn:
            wait_for_cursor(conn, events, started, 600)
            elapsed = time.perf_counter() - started
            cpu = _cpu_seconds(worker.pid) - cpu_start
            system_cpu = _cpu_seconds(worker.pid, system=True) - sys_start
            relay_cpu = _cpu_seconds(relay.pid) - relay_cpu_start
            pg_cpu = _postgres_cpu_seconds(cluster.datadir) - pg_cpu_start
            load_end = os.getloadavg()[0]
            health = poller.stop()
            if profiler is not None:
                profiler.send_signal(signal.SIGINT)
                profiler.wait(30)
            peak = _proc_status(worker.pid, "VmHWM")
            rows = 0
            for table in ("record", "post", "like", "repost", "follow", "block", "users", "record_tombstone"):
                rows += conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        batches = _worker_metric(log_path.read_text(), "worker_batches_total")
        worker.terminate()
        worker.wait(30)
        frames, receive_rate = receive_all(url, events)
        decode = decode_only(frames)
        rate = events / elapsed
        # The plain peer on the same stream, into its own database, right after the worker.
        from peer_atproto import run_peer

        peer_dsn = cluster.create_database("peer")
        peer_cpu_start = time.process_time()
        peer = run_peer(url, peer_dsn, events)
        peer_cpu = time.process_time() - peer_cpu_start
        return {
            "events": events,
            "seconds": round(elapsed, 3),
            "worker_events_per_s": round(rate),
            "postgres_rows": rows,
            "postgres_rows_per_s": round(rows / elapsed),
            "worker_peak_rss_mb": round(peak / 2**20, 1),
            "worker_cpu_s_per_1000_events": round(cpu / events * 1000, 4),
            "worker_system_cpu_share": round(system_cpu / cpu, 3) if cpu else None,
            "relay_cpu_s_per_1000_events": round(relay_cpu / events * 1000, 4),
            "postgres_cpu_s_per_1000_events": round(pg_cpu / events * 1000, 4),
            "load_average_1min": [round(load_start, 2), round(load_end, 2)],
            "decode_only_per_s": round(decode["decode_per_s"]),
            "decode_and_batch_per_s": round(decode["decode_and_batch_per_s"]),
            "decode_check_batch_us_per_event": [
                round(decode["decode_us"], 2),
                round(decode["check_us"], 2),
                round(decode["batch_us"], 2),
            ],
            "receive_only_per_s": round(receive_rate),
            "relay_first_read_per_s": round(first_read) if first_read else None,
            "cold_relay": cold_relay,
            "verify": verify,
            "batches": batches,
            "events_per_batch": round(events / batches, 1) if batches else None,
            "ratio_worker_to_decode": round(rate / decode["decode_per_s"], 3),
            "peer_events_per_s": round(peer["events_per_s"]),
            "peer_cpu_s_per_1000_events": round(peer_cpu / events * 1000, 4),
            "ratio_worker_to_peer": round(rate / peer["events_per_s"], 2),
            "meets_peer_target": rate >= TARGET_PEER_RATIO * peer["events_per_s"],
            **health,
            "cpus": os.cpu_count(),
            "meets_rate_target": rate >= TARGET_RATE,
            "meets_memory_target": peak / 2**20 <= TARGET_RSS_MB,
        }
    finally:
        for proc in (worker, relay):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(pg_root, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--json", action="store_true", help="Print the figures as JSON.")
    parser.add_argument("--strict", action="store_true", help="Exit 1 when a target is missed.")
    parser.add_argument("--profile", metavar="FILE", help="Sample the worker with py-spy into FILE (collapsed stacks).")
    parser.add_argument(
        "--cold-relay",
        action="store_true",
        help="Let the worker be the relay's first reader (it then waits for the devrelay to encode every frame).",
    )
    parser.add_argument("--batch-size", type=int, help="FIREHOSE_BATCH_SIZE of the worker (default: its own).")
    parser.add_argument(
        "--verify",
        choices=("off", "signatures", "full"),
        default="off",
        help="VERIFY of the worker (default off, against an unsigned relay: the ingest path alone; "
        "bench/bench_verify.py measures what verification costs).",
    )
    args = parser.parse_args()
    result = run(args.events, args.accounts, args.profile, args.cold_relay, args.batch_size, args.verify)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"worker (VERIFY={result['verify']}): {result['events']} events in {result['seconds']} s = "
            f"{result['worker_events_per_s']} events/s "
            f"(target {TARGET_RATE}); PostgreSQL {result['postgres_rows_per_s']} rows/s"
        )
        print(
            f"decode only: {result['decode_only_per_s']} events/s; decode + checks + batch: "
            f"{result['decode_and_batch_per_s']} events/s (CPU us per event: decode %.2f, checks %.2f, batch %.2f); "
            f"worker/decode = {result['ratio_worker_to_decode']}" % tuple(result["decode_check_batch_us_per_event"])
        )
        print(
            f"peer (atproto SDK + psycopg COPY, bench/peer_atproto.py): {result['peer_events_per_s']} events/s, "
            f"CPU {result['peer_cpu_s_per_1000_events']} s per 1000 events; worker/peer = "
            f"{result['ratio_worker_to_peer']}x (target >= {TARGET_PEER_RATIO:g}x)"
        )
        print(
            f"worker peak RSS {result['worker_peak_rss_mb']} MB (target <= {TARGET_RSS_MB}); "
            f"CPU {result['worker_cpu_s_per_1000_events']} s per 1000 events ({result['worker_system_cpu_share']:.0%} in "
            f"the kernel); {result['cpus']} CPUs"
        )
        print(
            f"/health during the run: {result['health_answers']} answers, median {result['health_median_ms']} ms, "
            f"max {result['health_max_ms']} ms (target <= 50 ms)"
        )
        print(
            f"{result['batches']:.0f} batches ({result['events_per_batch']} events per batch); receive only "
            f"{result['receive_only_per_s']} events/s"
            + (
                "; cold relay"
                if result["cold_relay"]
                else f"; relay first read {result['relay_first_read_per_s']} events/s"
            )
        )
        print(
            f"CPU per 1000 events: relay {result['relay_cpu_s_per_1000_events']} s, PostgreSQL "
            f"{result['postgres_cpu_s_per_1000_events']} s; load average {result['load_average_1min'][0]} at the "
            f"start, {result['load_average_1min'][1]} at the end"
        )
    ok = result["meets_rate_target"] and result["meets_memory_target"] and result["meets_peer_target"]
    return 0 if ok or not args.strict else 1


if __name__ == "__main__":
    sys.exit(main())
