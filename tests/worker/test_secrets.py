"""The worker never prints a secret: not in a refused setting, the start log, the debug log or /health."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from supervisor.secrets import MaskingFilter, mask_text, redact_words

from .support import wait_until

SECRET = "Wq9hunter2pw"
ENV = {"DATABASE_URL": f"postgresql://app:{SECRET}@db:5432/app", "DB_PASSWORD": SECRET}
REPO = Path(__file__).resolve().parents[2]

# a secret given by mistake as a setting that the worker refuses, and quoted in its message
REFUSED = {
    "DB_POOL_SIZE": SECRET,
    "LOG_LEVEL": SECRET,
    "BACKFILL_CURSOR_SERVICE": f" {SECRET} ",
    "FIREHOSE_CURSOR_SERVICE": f"{SECRET}\t",
    "HEALTH_HOST": f"admin:{SECRET}@0.0.0.0",
    "HEALTH_PORT": SECRET,
    "RELAY_URL": f"wss://relay.example/xrpc/com.atproto.sync.subscribeRepos?token={SECRET}",
    "WORKER_ID": SECRET,
    "BACKFILL_DAYS": SECRET,
}
USERINFO_RELAY = f"wss://user:{SECRET}@relay.example"


def _worker(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if not k.startswith(("BACKFILL_", "FIREHOSE_", "WORKER_"))}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-m", "supervisor", "worker", *args],
        cwd=REPO,
        env=full,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("variable", sorted(REFUSED))
def test_a_refused_setting_does_not_quote_a_secret(variable: str) -> None:
    result = _worker(env={**ENV, variable: REFUSED[variable]})
    assert result.returncode == 2, result.stdout + result.stderr
    assert variable in result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_a_refused_relay_url_with_userinfo_and_query_is_masked() -> None:
    result = _worker(env={**ENV, "RELAY_URL": f"{USERINFO_RELAY}/xrpc/com.atproto.sync.subscribeRepos?token={SECRET}"})
    assert result.returncode == 2 and SECRET not in result.stdout + result.stderr, result.stderr


def test_print_config_masks_the_relay_password() -> None:
    result = _worker("--print-config", env={**ENV, "RELAY_URL": USERINFO_RELAY})
    assert result.returncode == 0, result.stderr
    assert SECRET not in result.stdout + result.stderr and "user:****@relay.example" in result.stdout


def _health(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.read().decode()
    except urllib.error.HTTPError as exc:  # 503 while starting: the body is the same document
        return exc.read().decode()


@pytest.mark.postgres
def test_start_log_debug_log_and_health_hide_the_relay_password(database_url, start_relay, start_worker) -> None:
    relay = start_relay("--seed", "5", "--accounts", "10", "--events", "50", "--days", "1")
    url = relay.url.replace("ws://", f"ws://user:{SECRET}@", 1)
    assert SECRET in url
    worker = start_worker(
        {
            "DATABASE_URL": database_url,
            "RELAY_URL": url,
            "LOG_LEVEL": "debug",
            "BACKFILL_DAYS": "0",
            "DB_PASSWORD": SECRET,
        }
    )
    health_url = worker.health_url()
    try:
        wait_until(lambda: '"firehose_connected": true' in _health(health_url), 60, what="the relay connection")
    except AssertionError:
        raise AssertionError(worker.log[-3000:]) from None
    body = _health(health_url)
    assert "user:****@" in body and SECRET not in body
    metrics = urllib.request.urlopen(health_url.replace("/health", "/metrics"), timeout=5).read().decode()
    assert SECRET not in metrics
    worker.stop()
    log = worker.log
    assert "relay ws://user:****@" in log, log[-3000:]
    assert SECRET not in log, [line for line in log.splitlines() if SECRET in line][:5]


# pieces of log lines: secret names in several spellings, URLs, assignments, options, a known secret
_PIECES = st.sampled_from(
    [
        "DB_PASSWORD",
        "apiKey",
        "--api-key",
        "-token",
        "basic_auth",
        "Credentials",
        "x-secret",
        "PRIMARY_KEY",
        "passwd",
        "=",
        " = ",
        " ",
        "-",
        "--",
        "wss://",
        "user:",
        "@relay.example",
        "/xrpc?cursor=5",
        SECRET,
        "x" + SECRET,
        "batch",
        "42",
        "'quoted'",
        "events/s",
    ]
)


@settings(max_examples=300)
@given(st.lists(_PIECES, max_size=12).map("".join), st.sampled_from([(), (SECRET,), (SECRET, "pw")]))
# one line for each kind of secret name, a URL password and a known secret
@example("apiKey=42", ())
@example("--api-key 42", ())
@example("x-secret=abc", ())
@example("Credentials=abc", ())
@example("basic_auth=abc", ())
@example("-token abc", ())
@example("passwd=abc", ())
@example("wss://user:pw1234@relay.example", ())
@example(f"see {SECRET} here", (SECRET,))
def test_the_log_filter_masks_what_full_masking_masks(text: str, secrets: tuple[str, ...]) -> None:
    # lines passed over as holding nothing secret must be exactly the lines full masking keeps
    record = logging.LogRecord("worker", logging.INFO, __file__, 1, "%s", (text,), None)
    assert MaskingFilter(secrets).filter(record)
    assert record.getMessage() == redact_words(mask_text(text), secrets)
