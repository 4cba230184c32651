"""getRepo CAR reading: the streamed, file-spooled repository against the whole-CAR reader.

Builds one repository of ``--records`` records (posts, likes, follows of realistic size) with the
project's own MST writer, writes its CAR to a temporary file, then reads it in fresh child processes
(interleaved, ``--repeat`` rounds), each way doing the same work: every block checked against its
CID, the MST walked in key order, every record decoded.

- ``spooled``: :func:`supervisor.worker.repofile.spool_car` fed 64 KiB chunks, then ``records()``;
- ``whole CAR``: the file read into memory, ``load_repo(data, verify=True)``, then ``records()``.

Printed per way: the medians of load time, walk time, records/s over both, and the peak resident
memory the reading added (``VmHWM`` minus ``VmRSS`` before, so imports do not count).

Run: ``python bench/bench_carstream.py [--records N] [--repeat R]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench.common import print_table  # noqa: E402

WAYS = ("spooled", "whole CAR")


def _status_mb(field: str) -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def build(path: str, count: int) -> int:
    from supervisor.atproto.repo import export_repo
    from supervisor.atproto.syntax import tid_from_time

    collections = ("app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow")
    records = {}
    for i in range(count):
        collection = collections[i % 3]
        record: dict[str, object] = {"$type": collection, "createdAt": "2024-05-01T12:00:00.000Z"}
        if collection == "app.bsky.feed.post":
            record["text"] = f"post {i} " + "some words of a post about the weather and the news " * 4
            record["langs"] = ["en"]
        else:
            record["subject"] = {"uri": f"at://did:plc:someone{i % 977}/app.bsky.feed.post/3k{i:011d}", "cid": "b" * 59}
        records[f"{collection}/{tid_from_time(1_600_000_000_000_000 + i * 1_000_003)}"] = record
    data = export_repo("did:plc:benchcarstream", tid_from_time(1_700_000_000_000_000), records)
    with open(path, "wb") as out:
        out.write(data)
    return len(data)


def child(way: str, path: str) -> None:
    from supervisor.atproto import dagcbor
    from supervisor.atproto.repo import load_repo
    from supervisor.worker.repofile import spool_car

    baseline = _status_mb("VmRSS")
    started = time.perf_counter()
    count = 0
    if way == "spooled":

        def chunks():  # type: ignore[no-untyped-def]
            with open(path, "rb") as source:
                while chunk := source.read(65536):
                    yield chunk

        repo = spool_car(chunks(), spool_dir=os.path.dirname(path))
        loaded = time.perf_counter()
        with repo:
            for record in repo.records():
                dagcbor.decode(record.block)
                count += 1
    else:
        with open(path, "rb") as source:
            data = source.read()
        whole = load_repo(data, verify=True)
        loaded = time.perf_counter()
        for _path, _cid, _record in whole.records():
            count += 1
    done = time.perf_counter()
    print(
        json.dumps(
            {
                "count": count,
                "load": loaded - started,
                "walk": done - loaded,
                "peak_mb": _status_mb("VmHWM") - baseline,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", nargs=2, metavar=("WAY", "CAR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    with tempfile.TemporaryDirectory(prefix="bench-carstream-") as tmp:
        path = os.path.join(tmp, "repo.car")
        size = build(path, args.records)
        print(f"repository: {args.records} records, CAR {size / 1e6:.1f} MB; load average {os.getloadavg()[0]:.2f}")
        results: dict[str, list[dict[str, float]]] = {way: [] for way in WAYS}
        for _round in range(args.repeat):
            for way in WAYS:
                run = subprocess.run(
                    [sys.executable, __file__, "--child", way, path], capture_output=True, text=True, check=True
                )
                result = json.loads(run.stdout)
                if result["count"] != args.records:
                    raise SystemExit(f"{way}: {result['count']} records, expected {args.records}")
                results[way].append(result)
        rows = []
        for way in WAYS:
            load = statistics.median(r["load"] for r in results[way])
            walk = statistics.median(r["walk"] for r in results[way])
            rate = statistics.median(args.records / (r["load"] + r["walk"]) for r in results[way])
            peak = statistics.median(r["peak_mb"] for r in results[way])
            rows.append([way, f"{load:.2f} s", f"{walk:.2f} s", f"{rate:,.0f}", f"{peak:.1f} MB"])
        print_table(["way", "load (median)", "walk+decode", "records/s", "peak RSS added"], rows)
        print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
