"""The development relay's preparation: signing commits, and the large repository.

1. Signed commits: CPU seconds to generate a signed network, each commit's MST edited in place
   (what the relay does) against the peer that rebuilds the whole tree for every commit (what it
   did before), in interleaved rounds on one core; both must give the same bytes.
2. The large repository: wall time and peak memory (child processes) of a relay that prepares
   ``--large-repo-records N`` records and builds its getRepo CAR, against the same relay
   without it.
3. Start-up with many signed live events (the offline stack's relay): seconds from spawning
   ``supervisor devrelay --live-events N`` to its ready line, live events generated as they are
   sequenced, against the peer that generates them all first (``--truth-accounts`` needs them).

Run: ``python bench/bench_devrelay.py [--events N] [--rounds R] [--large N] [--live N]
[--only signing,large,startup]``; quote the medians with the load average (printed).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench.common import measure, print_table  # noqa: E402
from supervisor.atproto import frames  # noqa: E402
from supervisor.devrelay.events import collect_blobs, format_time  # noqa: E402
from supervisor.devrelay.identity import account_key  # noqa: E402
from supervisor.devrelay.synth import SynthConfig, SyntheticNetwork  # noqa: E402

NOW_US = 1_735_689_600_000_000


class RebuildingNetwork(SyntheticNetwork):
    """The peer: every signed commit builds its repository's whole MST again."""

    def _signed_frame(self, actor: Any, event: Any) -> bytes:
        tree = actor.tree
        specs: list[tuple[Any, ...]] = []
        blobs: list[Any] = []
        for action, path, cid, record in event.ops:
            prev = tree.get(path)
            if action == "delete":
                tree.pop(path, None)
            elif cid is not None:
                tree[path] = cid
            if record is not None:
                collect_blobs(record, blobs)
            specs.append((action, path, cid, record, prev) if prev is not None else (action, path, cid, record))
        key = account_key(self.config.seed, actor.did, actor.key_gen)
        return frames.encode_commit(
            event.seq,
            event.did,
            event.rev or "",
            event.since,
            format_time(event.time_us),
            specs,
            tree=tree,
            blobs=blobs,
            sign=key.sign,
            inductive=True,
        )


def _generate(cls: type[SyntheticNetwork], config: SynthConfig) -> tuple[float, str]:
    started = time.process_time()
    digest = hashlib.sha256()
    for event in cls(config).events():
        digest.update(event.encoded())
    return time.process_time() - started, digest.hexdigest()


def bench_signing(events: int, rounds: int) -> None:
    config = SynthConfig(seed=7, accounts=40, events=events, days=3.0, now_us=NOW_US)
    times: dict[str, list[float]] = {"incremental": [], "rebuild (peer)": []}
    digests = set()
    for _ in range(rounds):
        for label, cls in (("incremental", SyntheticNetwork), ("rebuild (peer)", RebuildingNetwork)):
            seconds, digest = _generate(cls, config)
            times[label].append(seconds)
            digests.add(digest)
    if len(digests) != 1:
        raise SystemExit("the two generators gave different bytes")
    print(f"signed network, {events} events over 40 accounts, {rounds} interleaved rounds (CPU seconds)")
    for label, values in times.items():
        print(f"  {label:16} median {statistics.median(values):6.2f}  min {min(values):6.2f}")
    ratio = statistics.median(times["rebuild (peer)"]) / statistics.median(times["incremental"])
    print(f"  incremental is {ratio:.1f}x faster; same bytes")


_PREPARE = """
import sys
from supervisor.devrelay import DevRelay, RelayConfig, SynthConfig
from supervisor.devrelay.hosts import HostSettings
n = int(sys.argv[1])
relay = DevRelay(RelayConfig(synth=SynthConfig(seed=1, accounts=20, events=2000, days=30,
    now_us=1735689600000000, large_repo_records=n), hosts=HostSettings(count=1)))
relay.prepare()
large = [d for d, a in relay.state.accounts.items() if len(a.records) >= n] if n else []
print(len(relay.state.export(large[0])) if large else 0)
"""


def bench_large(records: int, rounds: int) -> None:
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    rows = []
    for label, n in ((f"with --large-repo-records {records}", records), ("without it (peer)", 0)):
        result = measure(label, [sys.executable, "-c", _PREPARE, str(n)], runs=rounds, warmup=0, cwd=root)
        if result.returncode:
            raise SystemExit(f"{label}: {result.error}")
        rows.append([label, f"{result.median_seconds:.2f}", f"{result.max_rss_mib:.0f}"])
    print("relay preparation with the large repository's CAR built (child processes)")
    print_table(["relay", "median s", "peak MiB"], rows)


#: The offline stack's relay (compose/docker-compose.dev.yml), less its live event count.
_STACK_RELAY = ["--seed", "1", "--accounts", "20", "--events", "500", "--days", "2", "--rate", "20"]


def _startup_seconds(extra: list[str], root: str) -> float:
    """Seconds from spawning a devrelay to its ready line (then it is stopped)."""
    argv = [sys.executable, "-m", "supervisor", "devrelay", "--port", "0", *_STACK_RELAY, *extra]
    started = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        seconds = time.perf_counter() - started
        if "listening on" not in line:
            raise SystemExit(f"the devrelay did not start: {line!r}")
        return seconds
    finally:
        proc.terminate()
        proc.wait()


def bench_startup(live: int, rounds: int) -> None:
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    times: dict[str, list[float]] = {"lazy": [], "eager (peer)": []}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(rounds):
            times["lazy"].append(_startup_seconds(["--live-events", str(live)], root))
            eager = ["--live-events", str(live), "--truth-accounts", os.path.join(tmp, "accounts.jsonl")]
            times["eager (peer)"].append(_startup_seconds(eager, root))
    print(f"devrelay start-up, {live} signed live events, {rounds} interleaved rounds (wall seconds to the ready line)")
    for label, values in times.items():
        print(f"  {label:16} median {statistics.median(values):6.2f}  min {min(values):6.2f}  max {max(values):6.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=4000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--large", type=int, default=100_000)
    parser.add_argument("--live", type=int, default=100_000)
    parser.add_argument("--only", default="signing,large,startup", help="comma-separated parts to run")
    args = parser.parse_args()
    parts = set(args.only.split(","))
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    if "signing" in parts:
        bench_signing(args.events, args.rounds)
    if "large" in parts:
        bench_large(args.large, args.rounds)
    if "startup" in parts:
        bench_startup(args.live, args.rounds)
    print(f"load average: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
