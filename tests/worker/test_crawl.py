"""The crawl backfill end to end: a devrelay whose history reaches past its replay window, a worker
with BACKFILL_DAYS beyond it (so it crawls with getRepo), live ingest all along. The database ends
equal to the relay's truth; kill -9 during the crawl resumes without refetching what was done."""

from __future__ import annotations

import http.server
import json
import random
import re
import signal
import threading
import time
import urllib.error
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from supervisor.runtime.status import BACKFILL_QUERY, parse_backfill_rows
from supervisor.worker.health import check_health

from .support import cursor_of, diff_records, query, read_records, read_truth, wait_until

pytestmark = pytest.mark.postgres

#: 20 days of history, a relay that replays 24 hours of it: most records are only in the repositories.
NETWORK = ("--seed", "23", "--accounts", "30", "--events", "3000", "--days", "20", "--retention-hours", "24")


def crawl_env(database_url: str, relay, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "RELAY_URL": relay.url,
        "BACKFILL_DAYS": "30",
        "BACKFILL_MODE": "auto",  # 30 days past a 24 h window: auto crawls
        "RELAY_WINDOW_HOURS": "24",
        **extra,
    }


def metric(worker, name: str) -> dict[str, float]:
    """Values of one metric family, keyed by its label text."""
    text = urllib.request.urlopen(worker.health_url().replace("/health", "/metrics"), timeout=5).read().decode()
    values = {}
    for line in text.splitlines():
        found = re.match(rf"^{name}(\{{[^}}]*\}})? (\S+)$", line)
        if found:
            values[found.group(1) or ""] = float(found.group(2))
    return values


def backfill_of(worker) -> dict:
    return check_health(worker.health_url()).document["backfill"]


def wait_complete(database_url, relay, worker, timeout: float = 60) -> dict:
    def settled() -> bool:
        if cursor_of(database_url, "firehose") != str(relay.final_seq):
            return False
        doc = check_health(worker.health_url()).document
        # (an account reactivated after the crawl found it inactive is fetched by the verifier)
        return doc["backfill"]["state"] == "complete" and doc["verify"].get("desynchronized", 0) == 0

    try:
        wait_until(settled, timeout, what="the crawl to complete and live ingest to reach the last event")
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}\n{backfill_of(worker)}\ncursor {cursor_of(database_url, 'firehose')} of {relay.final_seq}"
            f"\n--- worker log (end) ---\n{worker.log[-5000:]}"
        ) from None
    return backfill_of(worker)


def finish(worker) -> None:
    worker.signal(signal.SIGTERM)
    assert worker.wait() == 0


def same_as_truth(relay, database_url, *, verified: bool = True) -> str:
    """The difference between the database and the relay's truth, leaving out the accounts whose host
    refused to serve them (inactive at the end: no consumer can fetch those). One reactivated later
    is fetched by the repair of the verifier (repo_sync)."""
    refused = {
        did
        for (did,) in query(
            database_url,
            "SELECT did FROM backfill_repo b WHERE state <> 'done' AND NOT EXISTS"
            " (SELECT 1 FROM repo_sync s WHERE s.did = b.did AND s.state = 'synchronized')",
        )
    }
    with open(relay.truth_accounts, encoding="utf-8") as fh:
        inactive = {account["did"] for account in map(json.loads, fh) if not account["active"]}
    if verified:  # without verification nobody fetches an account reactivated after the crawl
        assert refused <= inactive, refused - inactive

    def kept(records: dict) -> dict:
        return {uri: value for uri, value in records.items() if uri.split("/")[2] not in refused}

    return diff_records(kept(read_truth(relay.truth)), kept(read_records(database_url)))


def test_a_crawl_plus_live_ingest_equals_the_truth(database_url, start_relay, start_worker):
    relay = start_relay(*NETWORK, "--live-events", "600", "--rate", "60")
    worker = start_worker(crawl_env(database_url, relay))
    doc = wait_complete(database_url, relay, worker)
    summary = check_health(worker.health_url()).summary()
    fetched = metric(worker, "worker_backfill_fetched_bytes_total")
    repos = metric(worker, "worker_backfill_repos_total")
    finish(worker)
    assert same_as_truth(relay, database_url) == ""
    # The history before the relay's window came from the repositories, not from a replay.
    assert "[BACKFILL] Starting a crawl" in worker.log and "Replaying" not in worker.log
    assert "window reaches past the relay's replay window (24 h): the crawl fetches every repository" in worker.log
    assert "only what the relay still keeps" not in worker.log
    # Each progress line says something new: the last one is not printed twice.
    lines = [line.split("Progress: ", 1)[1] for line in worker.log.splitlines() if "[BACKFILL] Progress: " in line]
    figures = [re.sub(r", [\d.]+ records/s", "", line) for line in lines]
    assert figures and all(a != b for a, b in zip(figures, figures[1:])), lines
    assert doc["mode"] == "crawl" and doc["repos"]["total"] == 30 and doc["repos"]["done"] == 30, doc
    states = dict(query(database_url, "SELECT state, count(*) FROM backfill_repo GROUP BY state"))
    assert set(states) <= {"done", "RepoDeactivated", "deactivated"} and states["done"] >= 20, states
    assert "backfill complete (crawl: 30/30 repositories" in summary, summary
    # What `supervisor status` reads from the database says the same.
    rows = query(database_url, BACKFILL_QUERY)
    progress = parse_backfill_rows("\n".join("\t".join(map(str, row)) for row in rows))
    assert progress.states == states and progress.finished == 30 and progress.records == doc["records"], progress
    assert repos.get('{state="done"}') == states["done"] and fetched[""] > 10_000, (repos, fetched)
    assert query(database_url, "SELECT count(*) FROM backfill_crawl WHERE completed_at IS NOT NULL") == [(1,)]
    # A finished crawl is not repeated.
    finished = query(database_url, "SELECT did, attempts, finished_at FROM backfill_repo ORDER BY did")
    again = start_worker(crawl_env(database_url, relay), log_name="again")
    wait_until(lambda: "[BACKFILL] Already complete" in again.log, 30, what="the second start to see it complete")
    finish(again)
    assert "Listed" not in again.log and "Progress" not in again.log
    assert query(database_url, "SELECT did, attempts, finished_at FROM backfill_repo ORDER BY did") == finished
    assert same_as_truth(relay, database_url) == ""


def test_kill_9_during_the_crawl_resumes_without_refetching(database_url, start_relay, start_worker):
    relay = start_relay(*NETWORK, "--live-events", "400", "--rate", "40")
    # One getRepo a second: the 30 repositories take about 30 s of crawling, so that ten kills
    # about a second apart all land mid-crawl.
    env = crawl_env(database_url, relay, BACKFILL_PDS_RATE="1", BACKFILL_CONCURRENCY="2")
    rng = random.Random(5)
    finished_before: dict[str, object] = {}
    kills = 0
    for round_ in range(10):
        worker = start_worker(env, log_name=f"run-{round_}")
        worker.wait_ready()
        time.sleep(rng.uniform(0.5, 2.0))
        done = dict(query(database_url, "SELECT did, finished_at FROM backfill_repo WHERE finished_at IS NOT NULL"))
        worker.signal(signal.SIGKILL)
        worker.wait()
        kills += 1
        # What was done before a kill stays done, with the time of its one fetch.
        for did, when in finished_before.items():
            assert done.get(did) == when, did
        finished_before = done
        if len(done) == 30:
            break
    # Ten kills, every one before the crawl was complete, and the crawl made progress between them.
    assert kills == 10 and 0 < len(finished_before) < 30, (kills, len(finished_before))
    worker = start_worker(env, log_name="last")
    wait_complete(database_url, relay, worker)
    finish(worker)
    after = dict(query(database_url, "SELECT did, finished_at FROM backfill_repo WHERE finished_at IS NOT NULL"))
    assert len(after) == 30
    for did, when in finished_before.items():
        assert after[did] == when, did
    assert same_as_truth(relay, database_url) == ""


class SlowPds:
    """An HTTP front of the devrelay that answers getRepo ``delay`` seconds after reading the CAR, and
    serves DID documents that name it as the accounts' PDS: live events newer than the CAR arrive
    while the repository is being fetched."""

    def __init__(self, upstream: str, delay: float) -> None:
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802
                try:
                    with urllib.request.urlopen(upstream + self.path, timeout=30) as reply:
                        code, body, kind = reply.status, reply.read(), reply.headers.get("Content-Type", "")
                except urllib.error.HTTPError as error:  # an XRPC error (RepoDeactivated...): as it is
                    code, body, kind = error.code, error.read(), error.headers.get("Content-Type", "")
                if "getRepo" in self.path:
                    time.sleep(delay)
                elif self.path.startswith("/did:"):
                    body = body.replace(upstream.encode(), front.url.encode())
                self.send_response(code)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


def test_live_writes_during_the_fetch_of_the_same_repository(database_url, start_relay, start_worker):
    # Few accounts, many live events: each repository has live creates, updates and deletes while
    # it is fetched; they are held and applied after its CAR, newer than its revision only.
    relay = start_relay(
        "--seed", "31", "--accounts", "6", "--events", "3000", "--days", "20", "--retention-hours", "24",
        "--live-events", "2000", "--rate", "150",
    )  # fmt: skip
    pds = SlowPds("http://127.0.0.1:%d" % relay.port, delay=1.0)
    # VERIFY=off: no repair of the verifier could hide a mistake of the crawl's cut-over.
    env = crawl_env(database_url, relay, BACKFILL_CONCURRENCY="2", PLC_DIRECTORY_URL=pds.url, VERIFY="off")
    try:
        worker = start_worker(env)
        wait_complete(database_url, relay, worker)
    finally:
        pds.close()
    skipped = metric(worker, "worker_skipped_total")
    finish(worker)
    held = sum(v for k, v in skipped.items() if "held for backfill" in k)
    assert held >= 5, skipped
    assert same_as_truth(relay, database_url, verified=False) == ""


def host_health(hosts_file) -> list[dict]:
    with open(hosts_file, encoding="utf-8") as fh:
        hosts = json.load(fh)
    out = []
    for host in hosts:
        with urllib.request.urlopen(host["url"] + "/xrpc/_health", timeout=5) as reply:
            out.append(json.load(reply))
    return out


def same_as_expected(relay, database_url, cutoff) -> str:
    from supervisor.devrelay.truth import expected_records

    want = {
        row["uri"]: (row["cid"], row["record"]) for row in expected_records(relay.truth, cutoff, relay.truth_accounts)
    }
    return diff_records(want, read_records(database_url))


HOSTS = ("--seed", "41", "--accounts", "30", "--events", "2500", "--days", "20", "--retention-hours", "24")


def test_a_429_storm_and_a_failing_host_the_crawl_completes(database_url, start_relay, start_worker, workdir):
    hosts_file = workdir / "hosts.json"
    relay = start_relay(
        *HOSTS, "--pds-hosts", "3", "--hosts-out", str(hosts_file), "--host-rate", "2",
        "--failing-host", "2", "--host-fault-seconds", "4", "--did-web-every", "10",
        "--takedown-every", "7", "--deactivate-every", "11", "--live-events", "300", "--rate", "30",
    )  # fmt: skip
    started = datetime.now(timezone.utc)
    # Asked for ten times what the hosts allow: they answer 429, the worker waits as they say.
    env = crawl_env(database_url, relay, BACKFILL_SOURCE="hosts", BACKFILL_PDS_RATE="20", FIREHOSE_START_CURSOR="0")
    worker = start_worker(env)
    wait_complete(database_url, relay, worker, timeout=90)
    waits = metric(worker, "worker_backfill_rate_limit_waits_total")
    finish(worker)
    health = host_health(hosts_file)
    assert sum(h["rateLimited"] for h in health) > 0, health
    assert sum(v for k, v in waits.items() if 'cause="429"' in k) > 0, waits
    # Each 429's Retry-After was waited out: no request came inside it (but those already sent).
    assert [h["early"] for h in health] == [0] * len(health), health
    assert "failed" in worker.log and health[1]["faulted"], health
    states = dict(query(database_url, "SELECT state, count(*) FROM backfill_repo GROUP BY state"))
    assert states.get("RepoTakendown", 0) + states.get("takendown", 0) >= 3, states
    assert same_as_expected(relay, database_url, started - timedelta(days=30)) == "", query(
        database_url, "SELECT did, state, last_error FROM backfill_repo WHERE did LIKE 'did:web%%'"
    )


def test_the_crawl_keeps_to_the_per_host_rate(database_url, start_relay, start_worker, workdir):
    hosts_file = workdir / "hosts.json"
    relay = start_relay(
        *HOSTS, "--pds-hosts", "3", "--hosts-out", str(hosts_file), "--host-rate", "4",
        "--live-events", "200", "--rate", "30",
    )  # fmt: skip
    started = datetime.now(timezone.utc)
    env = crawl_env(database_url, relay, BACKFILL_SOURCE="hosts", BACKFILL_PDS_RATE="3", FIREHOSE_START_CURSOR="0")
    worker = start_worker(env)
    wait_complete(database_url, relay, worker, timeout=90)
    waits = metric(worker, "worker_backfill_rate_limit_waits_total")
    finish(worker)
    health = host_health(hosts_file)
    # Paced under what each host allows: not one 429, and the pacing did wait.
    assert [h["rateLimited"] for h in health] == [0, 0, 0], health
    assert all(h["requests"] >= 10 for h in health), health
    assert sum(v for k, v in waits.items() if 'cause="pace"' in k) > 10, waits
    assert same_as_expected(relay, database_url, started - timedelta(days=30)) == ""


def test_the_window_and_a_longer_one_later(database_url, start_relay, start_worker):
    relay = start_relay(*HOSTS, "--live-events", "100", "--rate", "20")
    started = datetime.now(timezone.utc)
    # 5 days (past the 24 h window: a crawl) records only what was made in the last 5 days...
    worker = start_worker(
        crawl_env(database_url, relay, BACKFILL_DAYS="5", FIREHOSE_START_CURSOR="0", BACKFILL_PDS_RATE="10")
    )
    wait_complete(database_url, relay, worker)
    finish(worker)
    ((cutoff,),) = query(database_url, "SELECT cutoff FROM backfill_crawl")
    assert started - timedelta(days=5) <= cutoff <= datetime.now(timezone.utc) - timedelta(days=5)
    short = same_as_expected(relay, database_url, cutoff)
    assert short == "", short
    assert same_as_expected(relay, database_url, started - timedelta(days=30)) != ""
    # ... and a longer window later crawls again for the older records.
    again = start_worker(crawl_env(database_url, relay, BACKFILL_DAYS="30", BACKFILL_PDS_RATE="10"), log_name="again")
    wait_complete(database_url, relay, again)
    finish(again)
    assert "A longer window than the finished crawl" in again.log
    ((cutoff,),) = query(database_url, "SELECT cutoff FROM backfill_crawl")
    assert same_as_expected(relay, database_url, cutoff) == ""


def test_a_stalling_host_is_fetched_once_it_serves_again(database_url, start_relay, start_worker, workdir):
    hosts_file = workdir / "hosts.json"
    relay = start_relay(
        *HOSTS, "--pds-hosts", "3", "--hosts-out", str(hosts_file),
        "--stalling-host", "2", "--host-fault-seconds", "5", "--live-events", "200", "--rate", "30",
    )  # fmt: skip
    started = datetime.now(timezone.utc)
    # Host 2 reads every request and answers nothing for its first 5 s: each getRepo times out (the
    # repositories are listed by the relay, which does not stall).
    env = crawl_env(
        database_url, relay, BACKFILL_REQUEST_TIMEOUT="1", FIREHOSE_START_CURSOR="0", BACKFILL_HOST_PARK_SECONDS="5"
    )
    worker = start_worker(env)
    # (the timeouts park host 2 for 5 s before it is tried again)
    wait_complete(database_url, relay, worker, timeout=150)
    finish(worker)
    health = host_health(hosts_file)
    assert health[1]["faulted"] > 0 and "failed" in worker.log, health
    # The other hosts were not held up, and the stalled host's repositories were fetched after all.
    states = query(
        database_url,
        "SELECT state, count(*) FROM backfill_repo WHERE state NOT IN ('done', 'deactivated') GROUP BY state",
    )
    assert states == [], states
    assert same_as_expected(relay, database_url, started - timedelta(days=30)) == ""


def test_did_web_documents_keep_to_their_host_rate(database_url, start_relay, start_worker, workdir):
    hosts_file = workdir / "hosts.json"
    # Every third account is a did:web one on a host of its own, which serves its DID document and its
    # repository and allows one request a second: both requests are paced as one host's.
    relay = start_relay(
        *HOSTS, "--pds-hosts", "1", "--hosts-out", str(hosts_file), "--host-rate", "1", "--did-web-every", "3",
        "--live-events", "100", "--rate", "20",
    )  # fmt: skip
    started = datetime.now(timezone.utc)
    # (VERIFY=off: nothing but the crawl reads the DID documents)
    env = crawl_env(database_url, relay, BACKFILL_PDS_RATE="0.8", FIREHOSE_START_CURSOR="0", VERIFY="off")
    worker = start_worker(env)
    wait_complete(database_url, relay, worker, timeout=120)
    finish(worker)
    time.sleep(2)  # the hosts' buckets refill: their health requests are rate limited too
    health = host_health(hosts_file)
    web = [h for h in health if h["accounts"] == 1]
    assert sum(h["requests"] >= 2 for h in web) >= 5, health  # its document and its repository
    assert [h["rateLimited"] for h in health] == [0] * len(health), health
    assert same_as_expected(relay, database_url, started - timedelta(days=30)) == ""


def test_a_vanishing_host_is_given_up_and_the_backfill_is_incomplete(database_url, start_relay, start_worker, workdir):
    hosts_file = workdir / "hosts.json"
    relay = start_relay(
        *HOSTS, "--pds-hosts", "3", "--hosts-out", str(hosts_file),
        "--vanishing-host", "2", "--host-fault-seconds", "1", "--live-events", "100", "--rate", "20",
    )  # fmt: skip
    env = crawl_env(
        database_url, relay, FIREHOSE_START_CURSOR="0", BACKFILL_HOST_PARK_SECONDS="0.5", BACKFILL_HOST_MAX_PARKS="1"
    )
    worker = start_worker(env)
    wait_until(lambda: backfill_of(worker)["state"] == "incomplete", 90, what="the crawl to end incomplete")
    doc = backfill_of(worker)
    gone = metric(worker, "worker_backfill_hosts_unreachable")
    finish(worker)
    rows = query(database_url, "SELECT last_error FROM backfill_repo WHERE state = 'host_unreachable'")
    assert rows and all("unreachable" in error for (error,) in rows), rows
    assert doc["repos"]["unreachable"] == len(rows) and doc["hosts_unreachable"] == 1 == gone[""], (doc, gone)
    assert "[BACKFILL] Incomplete:" in worker.log and "[BACKFILL] Complete" not in worker.log
    assert query(database_url, "SELECT completed_at FROM backfill_crawl") == [(None,)]


def test_a_repository_that_keeps_failing_is_given_up_and_tried_again_next_start(
    database_url, start_relay, start_worker, workdir
):
    hosts_file = workdir / "hosts.json"
    relay = start_relay(
        *HOSTS, "--pds-hosts", "3", "--hosts-out", str(hosts_file),
        "--corrupting-host", "2", "--live-events", "100", "--rate", "20",
    )  # fmt: skip
    with open(hosts_file, encoding="utf-8") as fh:
        corrupting = json.load(fh)[1]["url"]
    env = crawl_env(database_url, relay, FIREHOSE_START_CURSOR="0", BACKFILL_REPO_MAX_PASSES="2")
    worker = start_worker(env)
    wait_until(lambda: backfill_of(worker)["state"] == "incomplete", 90, what="the crawl to end incomplete")
    doc = backfill_of(worker)
    finish(worker)
    rows = query(database_url, "SELECT pds, last_error, attempts FROM backfill_repo WHERE state = 'given_up'")
    # Every repository of the corrupting host, and only those: its host answered all along.
    assert rows and all(pds == corrupting and "CID" in error for pds, error, _ in rows), rows
    assert all(attempts == 2 * 4 for _, _, attempts in rows), rows
    others = query(
        database_url, "SELECT state, count(*) FROM backfill_repo WHERE pds <> %s GROUP BY state", (corrupting,)
    )
    assert dict(others).keys() == {"done"}, others
    assert doc["repos"]["given_up"] == len(rows) and doc["hosts_unreachable"] == 0, doc
    assert "[BACKFILL] Incomplete:" in worker.log and "[BACKFILL] Complete" not in worker.log
    assert worker.log.count("Giving did:") == len(rows)
    assert query(database_url, "SELECT completed_at FROM backfill_crawl") == [(None,)]

    again = start_worker(env)

    def ended() -> bool:
        doc = check_health(again.health_url()).document  # (None until it serves)
        return doc is not None and doc["backfill"]["state"] == "incomplete"

    wait_until(ended, 90, what="the next crawl to end incomplete")
    finish(again)
    assert f"{len(rows)} repositories given up last time" in again.log
    retried = query(database_url, "SELECT attempts FROM backfill_repo WHERE state = 'given_up'")
    assert sorted(retried) == [(4 * 4,)] * len(rows), retried


def test_an_account_reactivated_after_the_crawl_is_fetched_with_verify_off(database_url, start_relay, start_worker):
    # Seed 41: two accounts deactivated when the history ends are reactivated by live events.
    relay = start_relay(
        "--seed", "41", "--accounts", "30", "--events", "3000", "--days", "20", "--retention-hours", "24",
        "--live-events", "600", "--rate", "60",
    )  # fmt: skip
    worker = start_worker(crawl_env(database_url, relay, FIREHOSE_START_CURSOR="0", VERIFY="off"))
    wait_complete(database_url, relay, worker)
    finish(worker)
    reactivated = query(database_url, "SELECT did, state FROM repo_sync WHERE reason = 'reactivated'")
    assert len(reactivated) == 2 and {state for _, state in reactivated} == {"synchronized"}, reactivated
    assert "verify: off" in worker.log
    # Their history, older than the relay's window, is in the database (verified=True: only accounts
    # still inactive at the end are left out).
    assert same_as_truth(relay, database_url) == ""
