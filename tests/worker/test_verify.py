"""Verification end to end: a devrelay that signs its commits (sync 1.1) and tampers with some, a worker
with VERIFY=full. Forged events are never written, broken chains are fetched again with getRepo, and
the database ends equal to the relay's truth."""

from __future__ import annotations

import json
import re
import signal
import urllib.request

import psycopg
import pytest

from supervisor.devrelay.capture import load_capture
from supervisor.worker.health import check_health

from .support import cursor_of, diff_records, query, read_records, read_truth, seed_cursor, wait_until


def same_as_truth(relay, database_url) -> str:
    """The difference between the database and the relay's truth, leaving out the repositories whose
    host refused to serve them (accounts inactive at the end: no consumer can fetch those again)."""
    parked = {did for (did,) in query(database_url, "SELECT did FROM repo_sync WHERE state LIKE 'Repo%%'")}
    with open(relay.truth_accounts, encoding="utf-8") as fh:
        inactive = {account["did"] for account in map(json.loads, fh) if not account["active"]}
    assert parked <= inactive, parked - inactive

    def kept(records: dict) -> dict:
        return {uri: value for uri, value in records.items() if uri.split("/")[2] not in parked}

    return diff_records(kept(read_truth(relay.truth)), kept(read_records(database_url)))


pytestmark = pytest.mark.postgres

NETWORK = ("--seed", "11", "--accounts", "25", "--events", "1500", "--days", "1")


def metric(worker, name: str) -> dict[str, float]:
    """Values of one metric family, keyed by its label text."""
    text = urllib.request.urlopen(worker.health_url().replace("/health", "/metrics"), timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        found = re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)$", line)
        if found:
            values[found.group(1) or ""] = float(found.group(2))
    return values


def run_to_the_end(database_url, start_relay, start_worker, *relay_args: str, env: dict | None = None):
    relay = start_relay(*NETWORK, *relay_args)
    worker = start_worker(
        {"DATABASE_URL": database_url, "RELAY_URL": relay.url, "FIREHOSE_START_CURSOR": "0", **(env or {})}
    )

    def settled() -> bool:
        if cursor_of(database_url, "firehose") != str(relay.final_seq):
            return False
        doc = check_health(worker.health_url()).document
        return doc["verify"].get("desynchronized", 0) == 0

    try:
        wait_until(settled, 120, what="live ingest to reach the last event with no repository left to repair")
    except AssertionError as exc:
        verify = check_health(worker.health_url()).document["verify"]
        raise AssertionError(
            f"{exc}\n{verify}\ncursor {cursor_of(database_url, 'firehose')} of {relay.final_seq}"
            f"\n--- worker log (end) ---\n{worker.log[-5000:]}"
        ) from None
    return relay, worker


def finish(worker) -> dict:
    doc = check_health(worker.health_url()).document
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0
    return doc


@pytest.mark.parametrize(
    "fault, reason",
    [
        ("--forge-every", "signature_invalid"),
        ("--bad-prev-data-every", "proof_prev_data"),
        ("--missing-block-every", "proof_missing_block"),
        ("--skip-every", "chain_gap"),
    ],
)
def test_tampered_commits_are_refused_and_the_repository_repaired(
    database_url, start_relay, start_worker, fault, reason
):
    relay, worker = run_to_the_end(database_url, start_relay, start_worker, fault, "97")
    failures = metric(worker, "worker_verify_failures_total")
    repairs = metric(worker, "worker_repairs_total")
    doc = finish(worker)
    # Nothing forged was written, and every repository ends as the relay holds it.
    assert query(database_url, "SELECT count(*) FROM record WHERE left(rkey, 6) = 'forged'") == [(0,)]
    assert same_as_truth(relay, database_url) == ""
    assert failures.get(f'{{reason="{reason}"}}', 0) >= 5, failures
    assert repairs.get('{result="repaired"}', 0) >= 5, repairs
    assert doc["verify"]["repaired"] >= 5 and doc["verify"]["desynchronized"] == 0
    # Each repaired repository is recorded as such.
    states = dict(query(database_url, "SELECT state, count(*) FROM repo_sync GROUP BY state"))
    assert states["synchronized"] >= 5 and set(states) <= {"synchronized", "RepoDeactivated"}, states


def test_without_verification_the_forgeries_are_written(database_url, start_relay, start_worker):
    # The same relay, VERIFY=off: what the test above guards against does happen.
    relay, worker = run_to_the_end(
        database_url, start_relay, start_worker, "--forge-every", "97", env={"VERIFY": "off"}
    )
    finish(worker)
    ((forged,),) = query(database_url, "SELECT count(*) FROM record WHERE left(rkey, 6) = 'forged'")
    assert forged >= 5
    assert diff_records(read_truth(relay.truth), read_records(database_url)) != ""


def test_sync_events_reset_the_repository(database_url, start_relay, start_worker):
    relay, worker = run_to_the_end(database_url, start_relay, start_worker, "--sync-every", "53")
    desync = metric(worker, "worker_desynchronizations_total")
    failures = metric(worker, "worker_verify_failures_total")
    finish(worker)
    # A #sync replaces a commit: the worker fetches the repository it no longer holds.
    assert desync.get('{reason="sync"}', 0) >= 10, desync
    assert not [reason for reason in failures if "signature" in reason or "proof" in reason], failures
    assert same_as_truth(relay, database_url) == ""


def test_key_rotations_are_followed(database_url, start_relay, start_worker):
    relay = start_relay(*NETWORK, "--key-rotations", "4", "--live-events", "1500", "--rate", "300")
    worker = start_worker({"DATABASE_URL": database_url, "RELAY_URL": relay.url, "FIREHOSE_START_CURSOR": "0"})
    wait_until(
        lambda: (
            cursor_of(database_url, "firehose") == str(relay.final_seq)
            and check_health(worker.health_url()).document["verify"]["desynchronized"] == 0
        ),
        120,
        what="the last event",
    )
    failures = metric(worker, "worker_verify_failures_total")
    desync = metric(worker, "worker_desynchronizations_total")
    log = worker.log
    doc = finish(worker)
    identities = doc["verify"]["identities"]
    # Each #identity drops the cached key; live commits after a rotation verify with the new one.
    assert identities["resolved"] > 25, identities
    # Repair would hide a rotation missed: every commit must verify as it comes, none be fetched again.
    assert not any(failures.values()), (failures, [line for line in log.splitlines() if "verif" in line][:20])
    assert not any(desync.values()), desync
    assert same_as_truth(relay, database_url) == ""


def test_a_restart_fetches_again_what_was_left_desynchronized(database_url, start_relay, start_worker):
    relay, worker = run_to_the_end(database_url, start_relay, start_worker)
    finish(worker)
    assert same_as_truth(relay, database_url) == ""
    # As if a run had stopped mid-repair: the repository lost records and is marked desynchronized.
    ((did, count),) = query(database_url, "SELECT did, count(*) FROM record GROUP BY did ORDER BY 2 DESC LIMIT 1")
    with psycopg.connect(database_url, autocommit=True) as conn:
        for table in ("record", "post", '"like"', "repost", "follow", "block"):
            conn.execute(f"DELETE FROM {table} WHERE did = %s", (did,))
        conn.execute(
            "INSERT INTO repo_sync (did, state, reason) VALUES (%s, 'desynchronized', 'chain_gap') "
            "ON CONFLICT (did) DO UPDATE SET state = 'desynchronized'",
            (did,),
        )
    assert same_as_truth(relay, database_url) != ""
    again = start_worker({"DATABASE_URL": database_url, "RELAY_URL": relay.url}, log_name="again")
    try:
        wait_until(
            lambda: query(database_url, "SELECT state FROM repo_sync WHERE did = %s", (did,)) == [("synchronized",)],
            60,
            what="the repository to be fetched again",
        )
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{again.log[-3000:]}") from None
    finish(again)
    assert count > 10 and same_as_truth(relay, database_url) == ""


def test_the_chain_is_checked_across_a_restart(database_url, start_relay, start_worker, workdir):
    # The relay stalls each connection after its 700th event, and never sends seq 701: the next commit
    # of that repository names as `since` and `prevData` a state no consumer saw. The first worker
    # stops at 700; the second must find the gap against the state the first one stored.
    capture = workdir / "events.cap"
    relay = start_relay(
        *NETWORK,
        "--stall-every", "700", "--stall-seconds", "60", "--skip-every", "701",
        "--write-capture", str(capture),
    )  # fmt: skip
    events = {event.seq: event for event in load_capture(capture)}
    skipped = events[701]
    assert skipped.kind == "commit"
    before = [e.seq for e in events.values() if e.did == skipped.did and e.kind == "commit" and e.seq < 701]
    after = [e.seq for e in events.values() if e.did == skipped.did and e.kind == "commit" and e.seq > 701]
    assert before and after, (before, after)
    first = start_worker({"DATABASE_URL": database_url, "RELAY_URL": relay.url, "FIREHOSE_START_CURSOR": "0"})
    wait_until(lambda: cursor_of(database_url, "firehose") == "700", 60, what="the first worker to reach seq 700")
    finish(first)
    # What the first run verified last of that repository is stored with the cursor.
    stored = query(database_url, "SELECT rev FROM repo_head WHERE did = %s", (skipped.did,))
    assert stored == [(events[max(before)].rev,)], stored
    again = start_worker({"DATABASE_URL": database_url, "RELAY_URL": relay.url}, log_name="again")

    def settled() -> bool:
        return (
            cursor_of(database_url, "firehose") == str(relay.final_seq)
            and check_health(again.health_url()).document["verify"]["desynchronized"] == 0
        )

    try:
        wait_until(settled, 120, what="the second worker to reach the last event with nothing left to repair")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{again.log[-3000:]}") from None
    desync = metric(again, "worker_desynchronizations_total")
    finish(again)
    # Seq 1402 is skipped too, and its gap is found from the state this run holds itself.
    assert desync.get('{reason="chain_gap"}', 0) == 2, (desync, again.log[-3000:])
    assert f"{skipped.did} is desynchronized (chain_gap)" in again.log
    assert query(database_url, "SELECT state FROM repo_sync WHERE did = %s", (skipped.did,)) == [("synchronized",)]
    assert same_as_truth(relay, database_url) == ""
    # The stored state is the repository's last commit.
    last = events[max(after)]
    assert query(database_url, "SELECT rev FROM repo_head WHERE did = %s", (skipped.did,)) == [(last.rev,)]


@pytest.mark.parametrize("mode", ["full", "signatures"])
def test_the_replay_backfill_refuses_forgeries(database_url, start_relay, start_worker, mode):
    # Every commit is in the backfill's range (live ingest starts at the end of the history), and each
    # one whose seq is a multiple of 97 is signed by another key, with a post of its own added.
    relay = start_relay(*NETWORK, "--forge-every", "97")
    seed_cursor(database_url, "firehose", str(relay.history))
    worker = start_worker(
        {
            "DATABASE_URL": database_url,
            "RELAY_URL": relay.url,
            "BACKFILL_DAYS": "2",
            "BACKFILL_MODE": "replay",
            "BACKFILL_BATCH_SIZE": "500",
            "BACKFILL_BATCH_DELAY_MS": "0",
            "VERIFY": mode,
        }
    )
    try:
        wait_until(lambda: "[BACKFILL] Complete" in worker.log, 120, what="the backfill to complete")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{worker.log[-4000:]}") from None
    failures = metric(worker, "worker_verify_failures_total")
    finish(worker)
    assert query(database_url, "SELECT completed_at IS NOT NULL FROM backfill_state") == [(True,)]
    ((records,),) = query(database_url, "SELECT count(*) FROM record")
    assert records > 100
    assert query(database_url, "SELECT count(*) FROM record WHERE left(rkey, 6) = 'forged'") == [(0,)]
    assert failures == {'{reason="signature_invalid"}': float(relay.history // 97)}, failures


def test_an_account_parked_after_live_ingest_saw_it_reactivated_is_fetched_at_once(database_url):
    """The crawl parks an account its (older) listing found inactive; live ingest had already seen
    the #account event saying it is active again: it is fetched now, not left waiting for another."""
    import asyncio

    from supervisor.atproto.frames import Account
    from supervisor.devrelay import RelayConfig
    from supervisor.worker import store
    from supervisor.worker.identity import IdentityResolver
    from supervisor.worker.metrics import WorkerMetrics
    from supervisor.worker.verifier import Verifier

    from ..devrelay.support import run, running, synth

    database = store.Database(database_url, 3)
    database.migrate()

    async def go() -> tuple[str, str, bool]:
        async with running(RelayConfig(synth=synth())) as relay:
            active = sorted(did for did, acct in relay.state.accounts.items() if acct.active and acct.rev)
            seen, unseen = active[0], active[1]
            verifier = Verifier("off", IdentityResolver(relay.http_url), database, WorkerMetrics())
            try:
                await verifier.check(Account(1, seen, "2025-01-01T00:00:00.000Z", active=True))
                verifier.park(seen)
                verifier.park(unseen)  # no event seen for it: it waits for one
                deadline = asyncio.get_running_loop().time() + 30
                while verifier.repaired < 1 and asyncio.get_running_loop().time() < deadline:
                    await asyncio.sleep(0.05)
                return seen, unseen, unseen in verifier._parked
            finally:
                await verifier.close()

    try:
        seen, unseen, waiting = run(go())
    finally:
        database.close()
    assert query(database_url, "SELECT did, state, reason FROM repo_sync") == [(seen, "synchronized", "reactivated")]
    assert query(database_url, "SELECT count(*) FROM record WHERE did = %s", (seen,))[0][0] > 0
    assert waiting
