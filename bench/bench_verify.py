"""Signature and commit verification cost, per curve and library.

1. Verifications per second of a 64-byte compact signature over ~150 bytes (an unsigned
   commit's size), for each curve and each library that can do it: ``cryptography``
   (OpenSSL) for k256 and p256, ``coincurve`` (libsecp256k1) for k256; the raw library call,
   and the same through :func:`supervisor.atproto.crypto.verify_signature` (low-S check,
   DER packing, the backend this package picked).
2. One full verification of a typical ``#commit``: a create in a repository of ``--records``
   records, signed with k256 and carrying its inductive proof, checked by
   :func:`supervisor.atproto.verify.verify_commit_event` (blocks, commit, signature, MST
   inversion), in microseconds, next to decoding the frame and to the proof alone.

CPU time on one core, best of ``--repeat`` rounds. Run: ``python bench/bench_verify.py``.

3. With ``--worker EVENTS``: the worker's live throughput with ``VERIFY=full``, ``signatures`` and
   ``off`` in the same run, against one devrelay serving a signed sync 1.1 history of EVENTS events
   (read once first, so its frames are ready), each run into a fresh database of one PostgreSQL
   cluster, the modes interleaved for ``--rounds`` rounds; medians, with the load average.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from typing import Callable

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from cryptography.exceptions import InvalidSignature  # noqa: E402
from cryptography.hazmat.primitives import hashes  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature  # noqa: E402

from supervisor.atproto import car, crypto, dagcbor, frames  # noqa: E402
from supervisor.atproto.cid import CID  # noqa: E402
from supervisor.atproto.mst import _HEIGHTS  # noqa: E402
from supervisor.atproto.proof import verify_commit_proof  # noqa: E402
from supervisor.atproto.syntax import tid_from_time  # noqa: E402
from supervisor.atproto.verify import verify_commit_event  # noqa: E402

try:
    import coincurve
except ImportError:  # pragma: no cover
    coincurve = None

BASE_US = 1_764_600_000_000_000
DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"


def _best(run: Callable[[], None], count: int, repeat: int) -> float:
    """Operations per CPU second, best of ``repeat`` rounds of ``count`` operations."""
    best = float("inf")
    for _ in range(repeat):
        _HEIGHTS.clear()  # each round starts cold: the key-height memo must not carry over identical frames
        start = time.process_time()
        run()
        best = min(best, time.process_time() - start)
    return count / best if best else float("inf")


def bench_signatures(count: int, repeat: int) -> list[tuple[str, str, float]]:
    rng = random.Random(1)
    message = bytes(rng.randrange(256) for _ in range(150))
    results = []
    for curve in (crypto.K256, crypto.P256):
        key = crypto.PrivateKey.generate(curve)
        signature = key.sign(message)
        der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        openssl = ec.EllipticCurvePublicKey.from_encoded_point(curve._ec, key.public_key.compressed)
        algorithm = ec.ECDSA(hashes.SHA256())

        def raw_openssl() -> None:
            for _ in range(count):
                try:
                    openssl.verify(der, message, algorithm)
                except InvalidSignature:
                    raise SystemExit("benchmark signature did not verify") from None

        results.append((curve.name, "cryptography (raw)", _best(raw_openssl, count, repeat)))
        if curve is crypto.K256 and coincurve is not None:
            point = coincurve.PublicKey(key.public_key.compressed)

            def raw_coincurve() -> None:
                for _ in range(count):
                    if not point.verify(der, message):
                        raise SystemExit("benchmark signature did not verify")

            results.append((curve.name, "coincurve (raw)", _best(raw_coincurve, count, repeat)))
        public = key.public_key

        def ours() -> None:
            for _ in range(count):
                if not crypto.verify_signature(public, message, signature):
                    raise SystemExit("benchmark signature did not verify")

        backend = "coincurve" if curve is crypto.K256 and coincurve is not None else "cryptography"
        results.append((curve.name, f"supervisor.atproto.crypto ({backend})", _best(ours, count, repeat)))
    return results


def _commits(records: int, count: int) -> tuple[list[bytes], crypto.PrivateKey]:
    rng = random.Random(2)
    key = crypto.PrivateKey.generate(crypto.K256)
    record_cid = CID.for_block(dagcbor.encode({"$type": "app.bsky.feed.like", "createdAt": "2026-12-01T00:00:00Z"}))
    tree = {}
    for _ in range(records):
        collection = rng.choice(["app.bsky.feed.post", "app.bsky.feed.like", "app.bsky.graph.follow"])
        tree[f"{collection}/{tid_from_time(BASE_US - rng.randrange(10**13), rng.randrange(1024))}"] = record_cid
    out = []
    for index in range(count):
        rev = tid_from_time(BASE_US + index * 1_000_000, 7)
        text = " ".join(rng.choice(["post", "hello", "relay", "firehose", "coffee"]) for _ in range(20))
        post = {"$type": "app.bsky.feed.post", "text": text, "createdAt": "2026-12-01T23:00:00.000Z", "langs": ["en"]}
        path = f"app.bsky.feed.post/{rev}"
        after = dict(tree)
        after[path] = CID.for_block(dagcbor.encode(post))
        out.append(
            frames.encode_commit(
                index + 1,
                DID,
                rev,
                None,
                "2026-12-01T23:00:00.000Z",
                [("create", path, None, post)],
                tree=after,
                sign=key.sign,
                inductive=True,
            )
        )
    return out, key


def bench_commits(records: int, count: int, repeat: int) -> dict[str, float]:
    data, key = _commits(records, count)
    decoded = [frames.decode_frame(frame) for frame in data]
    public = key.public_key
    for frame in decoded:
        checked = verify_commit_event(frame, public)
        if not checked:
            raise SystemExit(f"benchmark commit did not verify: {checked.verdict}")
    prepared = []
    for frame in decoded:
        _roots, blocks = car.read_car(frame.blocks)
        prepared.append((blocks, dagcbor.decode(blocks[frame.commit])["data"], frame.prev_data, frame.ops))

    def decode() -> None:
        for frame in data:
            frames.decode_frame(frame)

    def full() -> None:
        for frame in decoded:
            verify_commit_event(frame, public)

    def signature_off() -> None:
        for frame in decoded:
            verify_commit_event(frame, None)

    def proof_only() -> None:
        for blocks, root, prev_data, ops in prepared:
            verify_commit_proof(blocks, root, prev_data, ops)

    per_us = {}
    for name, run in (
        ("decode the frame", decode),
        ("full verification (blocks, signature, inversion)", full),
        ("verification without the signature", signature_off),
        ("MST inversion alone (blocks already read)", proof_only),
    ):
        per_us[name] = 1e6 / _best(run, count, repeat)
    return per_us


def _devrelay_commits(events: int, accounts: int) -> list[tuple[frames.Commit, crypto.PublicKey]]:
    """The signed ``#commit`` frames of a devrelay network, each with its account's key then."""
    from supervisor.devrelay.identity import account_key
    from supervisor.devrelay.synth import SynthConfig, SyntheticNetwork

    network = SyntheticNetwork(SynthConfig(seed=3, accounts=accounts, events=events, days=2.0))
    keys: dict[str, crypto.PublicKey] = {}
    out = []
    for event in network.events():
        if event.frame is None:
            continue
        frame = frames.decode_frame(event.frame)
        if not isinstance(frame, frames.Commit):
            continue
        generation = network.state.account(frame.did).key_gen  # no rotations: 0
        key = keys.get(f"{frame.did}/{generation}")
        if key is None:
            key = crypto.parse_multikey(account_key(3, frame.did, generation).multikey)
            keys[f"{frame.did}/{generation}"] = key
        out.append((frame, key))
    return out


def bench_devrelay_commits(events: int, accounts: int, repeat: int) -> dict[str, float]:
    """Microseconds per commit of a devrelay history (real successive commits, mixed ops)."""
    commits = _devrelay_commits(events, accounts)
    for frame, key in commits:
        checked = verify_commit_event(frame, key)
        if not checked:
            raise SystemExit(f"devrelay commit did not verify: {checked.verdict}")

    def full() -> None:
        for frame, key in commits:
            verify_commit_event(frame, key)

    def signature_off() -> None:
        for frame, _key in commits:
            verify_commit_event(frame, None)

    def proof_off() -> None:
        for frame, key in commits:
            verify_commit_event(frame, key, proof=False)

    return {
        f"full verification ({len(commits)} commits)": 1e6 / _best(full, len(commits), repeat),
        "without the signature": 1e6 / _best(signature_off, len(commits), repeat),
        "without the inversion": 1e6 / _best(proof_off, len(commits), repeat),
    }


def bench_worker_modes(events: int, accounts: int, rounds: int, modes: list[str]) -> dict[str, list[float]]:
    """Events per second of the worker per VERIFY mode (one list of rounds each)."""
    import tempfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    sys.path.insert(0, str(root / "tests"))
    sys.path.insert(0, str(root / "bench"))
    import psycopg
    from bench_worker import receive_all
    from common import seed_live_cursor, start_devrelay, start_worker, wait_for_cursor
    from conftest import PostgresCluster, _free_port, _pg_bin

    cluster = PostgresCluster(Path(tempfile.mkdtemp(prefix="bench-verify-pg-")), _free_port(), _pg_bin())
    cluster.start()
    relay, url = start_devrelay(accounts, events)
    results: dict[str, list[float]] = {mode: [] for mode in modes}
    try:
        receive_all(url, events)
        plc = "http://" + url[len("ws://") :].split("/", 1)[0]
        number = 0
        for _round in range(rounds):
            for mode in modes:
                number += 1
                dsn = cluster.create_database(f"v{number}")
                seed_live_cursor(dsn)
                log_path = Path(tempfile.mkdtemp(prefix="bench-verify-")) / "worker.log"
                worker = start_worker(dsn, url, log_path, {"VERIFY": mode, "PLC_DIRECTORY_URL": plc})
                try:
                    started = time.perf_counter()
                    with psycopg.connect(dsn, autocommit=True) as conn:
                        wait_for_cursor(conn, events, started, 900)
                    results[mode].append(events / (time.perf_counter() - started))
                finally:
                    worker.terminate()
                    worker.wait(30)
    finally:
        relay.terminate()
        relay.wait(30)
        cluster.stop()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--worker",
        type=int,
        default=0,
        metavar="EVENTS",
        help="also time the worker over EVENTS events with VERIFY=full, signatures and off",
    )
    parser.add_argument("--accounts", type=int, default=500, help="accounts of the --worker network")
    parser.add_argument("--rounds", type=int, default=3, help="--worker rounds (modes interleaved)")
    parser.add_argument("--signatures", type=int, default=3000, help="verifications per round")
    parser.add_argument("--commits", type=int, default=200, help="distinct commits per round")
    parser.add_argument("--records", type=int, default=2000, help="records in the repository")
    parser.add_argument("--devrelay-events", type=int, default=3000, help="events of the devrelay history timed")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"signature verifications per CPU second (best of {args.repeat} x {args.signatures}):")
    for curve, library, rate in bench_signatures(args.signatures, args.repeat):
        print(f"  {curve:5} {library:42} {rate:10,.0f}/s")
    print(f"one #commit (create, k256, repository of {args.records} records; best of {args.repeat} x {args.commits}):")
    for name, micros in bench_commits(args.records, args.commits, args.repeat).items():
        print(f"  {name:52} {micros:8.1f} us")
    print(f"devrelay history ({args.devrelay_events} events, {args.accounts} accounts; best of {args.repeat}):")
    for name, micros in bench_devrelay_commits(args.devrelay_events, args.accounts, args.repeat).items():
        print(f"  {name:52} {micros:8.1f} us")
    if args.worker:
        import statistics

        load = os.getloadavg()[0]
        modes = ["full", "signatures", "off"]
        results = bench_worker_modes(args.worker, args.accounts, args.rounds, modes)
        print(
            f"worker, {args.worker} signed events, {args.accounts} accounts, {args.rounds} rounds "
            f"(load {load:.2f} -> {os.getloadavg()[0]:.2f}):"
        )
        off = statistics.median(results["off"])
        for mode in modes:
            median = statistics.median(results[mode])
            rounds = ", ".join(f"{rate:,.0f}" for rate in results[mode])
            print(f"  VERIFY={mode:10} median {median:8,.0f} events/s  ({rounds})  {median / off:.2f}x of off")
        full = statistics.median(results["full"])
        print(
            f"  full verification costs {1 - full / off:.0%} of throughput "
            f"(~{(1 / full - 1 / off) * 1e6:.0f} us per event)"
        )


if __name__ == "__main__":
    main()
