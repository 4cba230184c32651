"""Firehose decode throughput: this project's decoder against the atproto SDK and raw libipld.

Builds a capture of synthetic ``#commit`` frames (posts, likes, follows and reposts with
realistic fields and CAR slices that carry the MST path to each record), then decodes the
same frames on one core (CPU time, best of ``--repeat`` interleaved rounds) with:

- ``supervisor``: header, body, CAR index and every record named by an op, into Python objects;
- ``atproto SDK``: ``parse_subscribe_repos_message`` + ``CAR.from_bytes`` + ``models.get_or_create``;
- ``libipld raw``: ``decode_dag_cbor_multi`` + ``decode_car`` (no records or models: a floor).

Run: ``python bench/bench_decode.py [--frames N] [--repeat R]``. The SDK and libipld are
optional extras (``pip install atproto libipld``); missing ones are skipped.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from typing import Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from supervisor.atproto import frames  # noqa: E402
from supervisor.atproto.cid import CID  # noqa: E402
from supervisor.atproto.syntax import tid_from_time  # noqa: E402

WORDS = (
    "the quick brown fox jumps over lazy dog atproto bluesky relay firehose appview post like follow "
    "today news weather coffee music art science photo morning evening feed thread reply"
).split()
BASE_US = 1_700_000_000_000_000


def _did(rng: random.Random) -> str:
    return "did:plc:" + "".join(rng.choice("abcdefghijklmnopqrstuvwxyz234567") for _ in range(24))


def _time(us: int) -> str:
    seconds, micros = divmod(us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros // 1000:03d}Z"


def _strong_ref(rng: random.Random, did: str, collection: str) -> dict:
    rkey = tid_from_time(BASE_US - rng.randrange(10**12), rng.randrange(1024))
    return {"uri": f"at://{did}/{collection}/{rkey}", "cid": str(CID.for_block(rkey.encode()))}


def _record(rng: random.Random, kind: str, dids: list[str], now_us: int) -> dict:
    created = _time(now_us)
    if kind == "app.bsky.feed.like" or kind == "app.bsky.feed.repost":
        return {
            "$type": kind,
            "subject": _strong_ref(rng, rng.choice(dids), "app.bsky.feed.post"),
            "createdAt": created,
        }
    if kind == "app.bsky.graph.follow":
        return {"$type": kind, "subject": rng.choice(dids), "createdAt": created}
    text = " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 40)))
    post: dict = {"$type": kind, "text": text, "createdAt": created, "langs": [rng.choice(["en", "ja", "pt", "de"])]}
    if rng.random() < 0.3:
        root = _strong_ref(rng, rng.choice(dids), "app.bsky.feed.post")
        post["reply"] = {"root": root, "parent": _strong_ref(rng, rng.choice(dids), "app.bsky.feed.post")}
    if rng.random() < 0.2:
        tag = rng.choice(WORDS)
        post["text"] += f" #{tag}"
        start = len(post["text"].encode()) - len(tag) - 1
        post["facets"] = [
            {
                "index": {"byteStart": start, "byteEnd": start + len(tag) + 1},
                "features": [{"$type": "app.bsky.richtext.facet#tag", "tag": tag}],
            }
        ]
    if rng.random() < 0.15:
        blob = CID.for_block(os.urandom(16), codec=0x55)
        post["embed"] = {
            "$type": "app.bsky.embed.images",
            "images": [
                {
                    "alt": "",
                    "image": {
                        "$type": "blob",
                        "ref": blob,
                        "mimeType": "image/jpeg",
                        "size": rng.randint(10**4, 10**6),
                    },
                    "aspectRatio": {"width": 1000, "height": 750},
                }
            ],
        }
    return post


def build_frames(count: int, seed: int = 7) -> list[bytes]:
    """``count`` synthetic #commit frames with one create each (as most live commits are)."""
    rng = random.Random(seed)
    dids = [_did(rng) for _ in range(500)]
    kinds = (
        ["app.bsky.feed.like"] * 50
        + ["app.bsky.feed.post"] * 25
        + ["app.bsky.graph.follow"] * 15
        + ["app.bsky.feed.repost"] * 10
    )
    dummy = CID.for_block(b"sibling")
    out = []
    for seq in range(1, count + 1):
        now_us = BASE_US + seq * 1000
        did = rng.choice(dids)
        kind = rng.choice(kinds)
        rkey = tid_from_time(now_us, rng.randrange(1024))
        path = f"{kind}/{rkey}"
        # A few dozen neighbouring keys so the CAR slice carries a realistic MST path.
        tree = {f"{kind}/{tid_from_time(now_us - rng.randrange(10**11), i)}": dummy for i in range(40)}
        record = _record(rng, kind, dids, now_us)
        record_cid = CID.for_block(frames.dagcbor.encode(record))
        tree[path] = record_cid
        rev = tid_from_time(now_us, 0)
        out.append(
            frames.encode_commit(
                seq,
                did,
                rev,
                tid_from_time(now_us - 10**6, 0),
                _time(now_us),
                [("create", path, None, record)],
                tree=tree,
            )
        )
    return out


def run_supervisor(data: list[bytes]) -> int:
    decode = frames.decode_frame
    records = 0
    for frame in data:
        commit = decode(frame)
        for op in commit.ops:
            if op.record is not None:
                records += 1
    return records


def run_sdk(data: list[bytes]) -> int:
    from atproto import CAR, firehose_models, models, parse_subscribe_repos_message

    records = 0
    for frame in data:
        message = firehose_models.MessageFrame.from_bytes(frame)
        commit = parse_subscribe_repos_message(message)
        car = CAR.from_bytes(commit.blocks)
        for op in commit.ops:
            if op.cid is not None:
                raw = car.blocks.get(op.cid)
                if raw is not None and models.get_or_create(raw, strict=False) is not None:
                    records += 1
    return records


def run_libipld(data: list[bytes]) -> int:
    import libipld

    blocks = 0
    for frame in data:
        _header, body = libipld.decode_dag_cbor_multi(frame)
        _car_header, car_blocks = libipld.decode_car(body["blocks"])
        blocks += len(car_blocks)
    return blocks


def measure(
    runners: dict[str, Callable[[list[bytes]], int]], data: list[bytes], repeat: int
) -> dict[str, tuple[float, int]]:
    """Best events per CPU-second of each runner; rounds are interleaved so that every runner
    sees the same machine conditions, and CPU time (not wall time) ignores other processes."""
    best: dict[str, float] = {}
    counts: dict[str, int] = {}
    for _ in range(repeat):
        for name, fn in runners.items():
            started = time.process_time()
            counts[name] = fn(data)
            elapsed = time.process_time() - started
            best[name] = min(best.get(name, float("inf")), elapsed)
    return {name: (len(data) / best[name], counts[name]) for name in runners}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=20_000, help="number of #commit frames (default 20000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per decoder; the best counts (default 3)")
    args = parser.parse_args()

    started = time.perf_counter()
    data = build_frames(args.frames)
    size = sum(len(frame) for frame in data)
    print(
        f"built {len(data)} #commit frames ({size / len(data):.0f} bytes average) "
        f"in {time.perf_counter() - started:.1f}s"
    )

    runners: dict[str, Callable[[list[bytes]], int]] = {"supervisor": run_supervisor}
    for name, fn, module in (("atproto SDK", run_sdk, "atproto"), ("libipld raw", run_libipld, "libipld")):
        try:
            __import__(module)
        except ImportError as exc:
            print(f"{name:<14} skipped ({exc})")
            continue
        runners[name] = fn
    results = measure(runners, data, args.repeat)
    for name, (rate, count) in results.items():
        unit = {"supervisor": "records", "atproto SDK": "records", "libipld raw": "blocks"}[name]
        print(f"{name:<14} {rate:>10,.0f} events/s  ({count} {unit} decoded)")
    ours = results["supervisor"][0]
    for name, (rate, _count) in results.items():
        if name != "supervisor":
            print(f"supervisor / {name}: {ours / rate:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
