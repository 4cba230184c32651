"""Configuration parsing: every value checked, bad ones exit 2 with one clear line, secrets masked."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

import supervisor.cli.worker  # noqa: F401  (registers the command)
from supervisor.cli import main
from supervisor.worker.config import SUBSCRIBE_PATH, parse_config, subscribe_url
from supervisor.worker.errors import ConfigError

BASE = {"DATABASE_URL": "postgresql://appview:s3cret@db:5432/appview"}


def parse(**env: str):
    return parse_config({**BASE, **env})


def test_defaults_match_the_original_worker():
    config = parse()
    assert config.relay_url == "wss://bsky.network" + SUBSCRIBE_PATH
    assert (config.worker_id, config.backfill_days, config.backfill_enabled) == (0, 0, False)
    assert (config.backfill_batch_size, config.backfill_batch_delay_ms, config.backfill_max_memory_mb) == (5, 2000, 512)
    assert (config.backfill_cursor_service, config.firehose_cursor_service) == ("backfill", "firehose")
    assert config.health_port == 8081 and config.db_pool_size == 4 and config.log_level == "info"
    assert config.start_cursor is None and parse(FIREHOSE_START_CURSOR=" 42 ").start_cursor == 42


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("bsky.network", "wss://bsky.network" + SUBSCRIBE_PATH),
        ("wss://bsky.network", "wss://bsky.network" + SUBSCRIBE_PATH),
        ("wss://bsky.network/", "wss://bsky.network" + SUBSCRIBE_PATH),
        ("https://relay.example:8443", "wss://relay.example:8443" + SUBSCRIBE_PATH),
        ("ws://127.0.0.1:4000", "ws://127.0.0.1:4000" + SUBSCRIBE_PATH),
        ("ws://127.0.0.1:4000" + SUBSCRIBE_PATH, "ws://127.0.0.1:4000" + SUBSCRIBE_PATH),
    ],
)
def test_relay_url_forms(raw, expected):
    assert subscribe_url(raw) == expected
    assert parse(RELAY_URL=raw).relay_url == expected


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"BACKFILL_DAYS": "7d"}, "BACKFILL_DAYS"),
        ({"BACKFILL_DAYS": ""}, "BACKFILL_DAYS"),
        ({"WORKER_ID": "primary"}, "WORKER_ID"),
        ({"WORKER_ID": "1.0"}, "WORKER_ID"),
        ({"DB_POOL_SIZE": "0"}, "DB_POOL_SIZE"),
        ({"BACKFILL_BATCH_SIZE": "0"}, "BACKFILL_BATCH_SIZE"),
        ({"BACKFILL_BATCH_DELAY_MS": "-5"}, "BACKFILL_BATCH_DELAY_MS"),
        ({"BACKFILL_MAX_MEMORY_MB": "lots"}, "BACKFILL_MAX_MEMORY_MB"),
        ({"HEALTH_PORT": "70000"}, "HEALTH_PORT"),
        ({"LOG_LEVEL": "verbose"}, "LOG_LEVEL"),
        ({"RELAY_URL": "ftp://relay.example"}, "RELAY_URL"),
        ({"RELAY_URL": "wss://relay.example/other/path"}, "RELAY_URL"),
        ({"RELAY_URL": "wss://relay.example/?cursor=5"}, "RELAY_URL"),
        ({"RELAY_URL": ""}, "RELAY_URL"),
        ({"FIREHOSE_CURSOR_SERVICE": ""}, "FIREHOSE_CURSOR_SERVICE"),
        ({"FIREHOSE_START_CURSOR": "-1"}, "FIREHOSE_START_CURSOR"),
        ({"FIREHOSE_START_CURSOR": "tip"}, "FIREHOSE_START_CURSOR"),
        ({"BACKFILL_CURSOR_SERVICE": "firehose"}, "BACKFILL_CURSOR_SERVICE"),
        ({"FIREHOSE_RECEIVE_TIMEOUT": "nan"}, "FIREHOSE_RECEIVE_TIMEOUT"),
        ({"DATABASE_URL": ""}, "DATABASE_URL"),
        ({"DATABASE_URL": "mysql://root:hunter2@db/x"}, "DATABASE_URL"),
        ({"DATABASE_URL": "host=db port=notaport password=hunter2 =oops"}, "DATABASE_URL"),
    ],
)
def test_bad_values_name_the_variable(env, variable):
    with pytest.raises(ConfigError) as info:
        parse(**env)
    message = str(info.value)
    assert info.value.variable == variable
    assert message.startswith(variable) and "\n" not in message
    assert "hunter2" not in message


@pytest.mark.parametrize("raw, days", [(" 7 ", 7), ("1_0", 10), ("-1", -1), ("0", 0), ("+3", 3)])
def test_backfill_days_follow_python_int(raw, days):
    assert parse(BACKFILL_DAYS=raw).backfill_days == days


def test_backfill_days_below_minus_one_act_as_off_with_a_note():
    config = parse(BACKFILL_DAYS="-5")
    assert config.backfill_days == 0 and not config.backfill_enabled
    assert any("BACKFILL_DAYS=-5" in note for note in config.notes)


@pytest.mark.parametrize(
    "worker_id, days, enabled",
    [("0", "7", True), ("0", "-1", True), ("0", "0", False), ("1", "7", False), ("00", "7", True), ("-1", "7", False)],
)
def test_backfill_runs_only_on_worker_0_with_days(worker_id, days, enabled):
    assert parse(WORKER_ID=worker_id, BACKFILL_DAYS=days).backfill_enabled is enabled


def test_overrides_win_over_the_environment():
    config = parse_config(
        {**BASE, "BACKFILL_DAYS": "7d", "HEALTH_PORT": "1"}, {"BACKFILL_DAYS": "3", "HEALTH_PORT": None}
    )
    assert config.backfill_days == 3 and config.health_port == 1


def test_describe_masks_the_database_password():
    assert "s3cret" not in str(parse().describe())


def _run(args, env):
    runner = CliRunner()
    return runner.invoke(main, ["worker", *args], env={**{"DATABASE_URL": None}, **env})


def test_cli_bad_value_exits_2_with_one_line():
    result = _run([], {"DATABASE_URL": "postgresql://u:hunter2@db/x", "BACKFILL_DAYS": "7d"})
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "BACKFILL_DAYS" in lines[0] and "'7d'" in lines[0]
    assert "Traceback" not in result.output and "hunter2" not in result.output


def test_cli_masks_a_bad_database_url():
    result = _run([], {"DATABASE_URL": "mysql://u:hunter2@db/x"})
    assert result.exit_code == 2
    assert "hunter2" not in result.output and "****" in result.output


def test_cli_option_overrides_environment():
    result = _run(
        ["--backfill-days", "2", "--print-config"],
        {"DATABASE_URL": "postgresql://u:hunter2@db/x", "BACKFILL_DAYS": "oops"},
    )
    assert result.exit_code == 0, result.output
    assert '"backfill_days": 2' in result.output and "hunter2" not in result.output


def test_cli_missing_database_url():
    result = _run([], {})
    assert result.exit_code == 2 and "DATABASE_URL is not set" in result.output
