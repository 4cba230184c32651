"""``supervisor devrelay`` as a process: ready line, serving, clean stop, usage errors."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click
import pytest

from supervisor.atproto import frames
from supervisor.cli.devrelay import OPTIONS, DevRelaySettings, Option, devrelay_command
from supervisor.devrelay import RelayConfig

from .support import collect, read_jsonl, run

ROOT = Path(__file__).resolve().parents[2]


def start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "supervisor", "devrelay", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ready_url(proc: subprocess.Popen, timeout: float = 60) -> str:
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not lines:
        proc.kill()
        pytest.fail("relay did not print its ready line in time")
    line = lines[0]
    match = re.fullmatch(r"listening on (ws://127\.0\.0\.1:(\d+))\n", line)
    assert match, f"unexpected first line {line!r}; stderr: {proc.stderr.read() if proc.poll() is not None else ''}"
    assert int(match.group(2)) > 0
    return match.group(1)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_start_serve_and_stop(tmp_path, sig):
    truth = tmp_path / "truth.jsonl"
    proc = start(
        "--events", "300", "--accounts", "10", "--days", "2", "--now", "2025-01-01T00:00:00Z", "--truth", str(truth)
    )
    try:
        url = ready_url(proc)
        assert truth.exists() and len(read_jsonl(truth)) > 50  # written before the ready line
        got = run(collect(url + "/xrpc/com.atproto.sync.subscribeRepos?cursor=0", until_seq=300))
        assert [f.seq for f in got] == list(range(1, 301))
        assert isinstance(got[0], frames.Identity)
    finally:
        proc.send_signal(sig)
        try:
            code = proc.wait(timeout=20)
        finally:
            proc.kill()
    assert code == 0, proc.stderr.read()


def test_same_options_same_stream(tmp_path):
    outputs = []
    for name in ("a", "b"):
        capture = tmp_path / f"{name}.capture"
        proc = start("--events", "200", "--seed", "3", "--now", "1735689600", "--write-capture", str(capture))
        try:
            ready_url(proc)
        finally:
            proc.terminate()
            assert proc.wait(timeout=20) == 0
        outputs.append(capture.read_bytes())
    assert outputs[0] == outputs[1] and len(outputs[0]) > 10_000


@pytest.mark.parametrize(
    "args, message",
    [
        (["--capture", "/nonexistent/file.capture"], "file.capture"),
        (["--rate", "-1"], "--rate"),
        (["--now", "yesterday"], "--now"),
        (["--stall-every", "5"], "stall-seconds"),
        (["--accounts", "0"], "--accounts"),
        (["--host-rate", "2"], "need PDS hosts: give --pds-hosts N"),
        (["--pds-hosts", "2", "--failing-host", "3"], "failing-host 3 is not a host: hosts are numbered 1 to 2"),
        (["--pds-hosts", "2", "--vanishing-host", "0"], "--vanishing-host"),
        (["--pds-hosts", "1", "--hosts-port", "65535", "--did-web-every", "50"], "no room"),
        (["--capture", "x.capture", "--takedown-every", "2"], "--takedown-every needs a synthetic network"),
        (["--capture", "x.capture", "--large-repo-records", "9"], "--large-repo-records needs a synthetic network"),
    ],
)
def test_usage_errors_exit_2(args, message):
    proc = subprocess.run(
        [sys.executable, "-m", "supervisor", "devrelay", "--port", "0", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr


def test_port_in_use_exits_2():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "supervisor", "devrelay", "--events", "10", "--port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2 and "cannot listen" in proc.stderr and "Traceback" not in proc.stderr


def test_the_ready_line_counts_the_events_of_a_capture_with_real_sequence_numbers(tmp_path):
    from supervisor.atproto import capture_io

    capture = tmp_path / "real.capture"
    first = 31_527_015_469
    with open(capture, "wb") as out:
        for seq in range(first, first + 3):
            capture_io.write_capture_frame(
                out,
                frames.encode_identity(
                    seq, "did:plc:abcdefghijklmnopqrstuvwx", "2025-01-01T00:00:00.000Z", "alice.example.com"
                ),
            )
    proc = start("--capture", str(capture), "--retention-hours", "1000000")
    try:
        ready_url(proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        finally:
            proc.kill()
    summary = proc.stderr.read()
    assert f"devrelay: 3 events sequenced (latest seq {first + 2}), 3 in the replay window" in summary, summary


def test_pds_hosts_are_announced_and_written(tmp_path):
    import json
    import urllib.request

    hosts_out = tmp_path / "hosts.json"
    proc = start(
        "--events", "400", "--accounts", "12", "--pds-hosts", "2", "--did-web-every", "6",
        "--hosts-out", str(hosts_out), "--now", "2025-01-01T00:00:00Z",
    )  # fmt: skip
    try:
        url = ready_url(proc)
        hosts = json.loads(hosts_out.read_text())  # written before the ready line
        http_url = url.replace("ws://", "http://")
        with urllib.request.urlopen(http_url + "/xrpc/com.atproto.sync.listHosts", timeout=10) as resp:
            listed = json.loads(resp.read())["hosts"]
        with urllib.request.urlopen(hosts[0]["url"] + "/xrpc/com.atproto.sync.listRepos", timeout=10) as resp:
            repos = json.loads(resp.read())["repos"]
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            code = proc.wait(timeout=20)
        finally:
            proc.kill()
    assert code == 0
    assert len(hosts) == 4 and sum(h["accounts"] for h in hosts) == 12
    assert [h["url"] for h in hosts] == ["http://" + h["hostname"] for h in hosts]
    assert sorted(h["hostname"] for h in listed) == sorted(h["hostname"] for h in hosts)
    assert len(repos) == hosts[0]["accounts"] == 5
    err = proc.stderr.read()
    for number, host in enumerate(hosts, 1):
        assert f"devrelay: PDS host {number} on {host['url']} ({host['accounts']} accounts)" in err, err


def test_a_host_port_in_use_exits_2():
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = subprocess.run(
            [sys.executable, "-m", "supervisor", "devrelay", "--events", "10", "--pds-hosts", "1"]
            + ["--hosts-port", str(port)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert proc.returncode == 2, proc.stderr
    assert f"cannot listen on 127.0.0.1:{port} for a PDS host" in proc.stderr and "Traceback" not in proc.stderr


def _sample(option: Option) -> tuple[list[str], object]:
    """Command-line arguments giving ``option`` a value other than its default, and the field's value."""
    if option.type is bool:
        return [option.flag], option.convert(True) if option.convert else True
    if option.flag == "--now":
        return [option.flag, "2025-01-01T00:00:00Z"], 1_735_689_600_000_000
    if option.flag == "--host":
        return [option.flag, "0.0.0.0"], "0.0.0.0"
    if isinstance(option.type, click.Path):
        return [option.flag, "out.file"], "out.file"
    if option.multiple:
        return [option.flag, "2", option.flag, "3"], (2, 3)
    value = 2.5 if isinstance(option.type, click.FloatRange) else int(option.default or 0) + 3
    return [option.flag, str(value)], value


@pytest.mark.parametrize("option", [o for o in OPTIONS if o.flag != "--capture"], ids=lambda o: o.flag)
def test_every_option_sets_its_field(option):
    """Parsed as the command parses it, each option's value lands in the field its row names."""
    args, expected = _sample(option)
    ctx = devrelay_command.make_context("devrelay", args)
    settings = DevRelaySettings.from_options(ctx.params)
    config = settings.relay_config()
    section, name = option.field.split(".", 1)
    got = getattr(settings, name) if section == "serve" else getattr(_section(config, section), name)
    assert got == expected, (option.flag, got)
    if section != "serve":
        defaults = DevRelaySettings.from_options(devrelay_command.make_context("devrelay", []).params)
        assert getattr(_section(defaults.relay_config(), section), name) != expected
    if option.flag == "--host":
        assert config.hosts.address == "0.0.0.0"


def _section(config: RelayConfig, section: str) -> object:
    return {"synth": config.synth, "faults": config.faults, "hosts": config.hosts, "relay": config}[section]


def test_capture_replaces_the_synthetic_network():
    ctx = devrelay_command.make_context("devrelay", ["--capture", "x.capture", "--rate", "5"])
    config = DevRelaySettings.from_options(ctx.params).relay_config()
    assert config.synth is None and config.capture == "x.capture" and config.rate == 5
