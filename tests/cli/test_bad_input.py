"""Hostile and sloppy input to every command: a clear line, the documented exit code, no traceback.

Exit codes: 0 ok, 1 findings / malformed frames, 2 unusable input or usage, 130 Ctrl-C.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from .support import CLI, NO_ENGINE, interrupt_once_reading, run

FILES: dict[str, bytes] = {
    "empty.yml": b"",
    "garbage.yml": bytes(range(256)) * 3,
    "badutf8.yml": b'services:\n  a:\n    image: x\n    environment:\n      X: "\xff\xfe"\n',
    "ports.yml": b'services:\n  a:\n    image: x\n    ports: "bad"\n',
    "required.yml": b"services:\n  a:\n    image: x\n    environment:\n      - X=${Y:?Y must be set}\n",
    "ok.yml": b"services:\n  worker:\n    image: x\n    command: supervisor worker\n",
    "junk.cap": b"\x69\x6d\xc5\x6c" + bytes(200),
    "truncated.cap": b"\x10\x00\x00\x00abc",
    "short.cap": b"\x01\x00",
    "malformed.cap": b"\x05\x00\x00\x00hello",
    "empty.cap": b"",
}

# (id, argv, exit code, text the message must contain)
CASES = [
    ("config-missing-file", ["config", "-f", "missing.yml"], 2, "missing.yml: no such file"),
    ("config-directory", ["config", "-f", "adir"], 2, "is a directory"),
    ("config-empty-file", ["config", "-f", "empty.yml"], 2, "empty compose file"),
    ("config-binary", ["config", "-f", "garbage.yml"], 2, "not valid UTF-8"),
    ("config-invalid-utf8", ["config", "-f", "badutf8.yml"], 2, "not valid UTF-8"),
    ("config-schema-error", ["config", "-f", "ports.yml"], 2, "ports.yml:4:5"),
    ("validate-required-var", ["validate", "-f", "required.yml"], 2, "required.yml:5:9: error SV000"),
    ("validate-unknown-format", ["validate", "--format", "xml", "-f", "ok.yml"], 2, "'xml' is not one of"),
    ("audit-missing-file", ["audit", "-f", "missing.yml"], 2, "no such file"),
    ("explain-unknown-service", ["explain", "-f", "ok.yml", "nosuch"], 2, "services: worker"),
    ("unknown-option", ["config", "--bogus"], 2, "No such option"),
    ("unknown-command", ["frobnicate"], 2, "No such command"),
    ("up-no-engine", ["up", "-d", "-f", "ok.yml"], 2, "no Docker Engine answers"),
    ("up-unknown-service", ["up", "-d", "-f", "ok.yml", "nosuch"], 2, "no such service: nosuch; services: worker"),
    ("ps-unknown-service", ["ps", "-f", "ok.yml", "nosuch"], 2, "no such service: nosuch"),
    ("logs-unknown-service", ["logs", "--file", "ok.yml", "nosuch"], 2, "no such service: nosuch"),
    ("restart-unknown-service", ["restart", "-f", "ok.yml", "nosuch"], 2, "no such service: nosuch"),
    ("ps-invalid-project-name", ["ps", "-p", "Bad Name!"], 2, 'invalid project name "Bad Name!"'),
    ("up-negative-wait-timeout", ["up", "-f", "ok.yml", "--wait-timeout", "-1"], 2, "--wait-timeout"),
    ("up-conflicting-options", ["up", "-f", "ok.yml", "--build", "--no-build"], 2, "incompatible"),
    ("logs-bad-tail", ["logs", "-p", "x", "--tail", "many"], 2, "--tail"),
    ("down-no-engine", ["down", "-p", "x"], 2, "no Docker Engine answers"),
    ("status-no-engine", ["status", "-f", "ok.yml"], 2, "no Docker Engine answers"),
    ("decode-missing", ["firehose", "decode", "missing.cap"], 2, "does not exist"),
    ("decode-not-a-capture", ["firehose", "decode", "junk.cap"], 2, "is it a capture file?"),
    ("decode-truncated", ["firehose", "decode", "truncated.cap"], 2, "truncated capture"),
    ("decode-short-prefix", ["firehose", "decode", "short.cap"], 2, "2-byte length prefix"),
    ("decode-malformed-frame", ["firehose", "decode", "malformed.cap"], 1, "1 malformed frame"),
    ("decode-empty", ["firehose", "decode", "empty.cap"], 0, ""),
    ("repo-dump-not-a-car", ["repo", "dump", "ok.yml"], 2, "expected a repository CAR file"),
    ("repo-inspect-empty", ["repo", "inspect", "empty.cap"], 2, "CAR header"),
    ("repo-dump-directory", ["repo", "dump", "adir"], 2, "is a directory"),
    ("capture-bad-ipv6", ["firehose", "capture", "--relay", "ws://[bad", "-o", "c.cap"], 2, "not a usable URL"),
    ("capture-port-range", ["firehose", "capture", "--relay", "ws://h:99999", "-o", "c.cap"], 2, "Port out of range"),
    ("capture-bad-scheme", ["firehose", "capture", "--relay", "ftp://h", "-o", "c.cap"], 2, "unsupported scheme 'ftp'"),
    (
        "capture-negative-cursor",
        ["firehose", "capture", "--relay", "h:1", "--cursor", "-1", "-o", "c.cap"],
        2,
        "--cursor",
    ),
    ("devrelay-now-infinite", ["devrelay", "--now", "inf"], 2, "--now"),
    ("devrelay-now-far-future", ["devrelay", "--now", "1e30"], 2, "between 1970 and 2255"),
    ("devrelay-days-huge", ["devrelay", "--days", "1e308"], 2, "before 1970"),
    ("devrelay-days-infinite", ["devrelay", "--days", "inf"], 2, "days must be a positive number"),
    ("devrelay-retention-huge", ["devrelay", "--retention-hours", "1e308"], 2, "retention-hours must be"),
    ("devrelay-rate-infinite", ["devrelay", "--rate", "inf"], 2, "rate must be a finite number"),
    ("devrelay-rate-nan", ["devrelay", "--rate", "nan"], 2, "rate must be a finite number"),
    ("devrelay-rate-tiny", ["devrelay", "--rate", "1e-300", "--live-events", "5"], 2, "past 2255"),
    ("devrelay-stall-nan", ["devrelay", "--stall-every", "1", "--stall-seconds", "nan"], 2, "stall-seconds"),
    ("devrelay-port-range", ["devrelay", "--port", "70000"], 2, "--port"),
    ("devrelay-capture-not-a-capture", ["devrelay", "--capture", "junk.cap"], 2, "junk.cap"),
    ("devrelay-capture-missing", ["devrelay", "--capture", "missing.cap"], 2, "missing.cap"),
]


@pytest.fixture()
def workdir(tmp_path: Path) -> Path:
    for name, data in FILES.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "adir").mkdir()
    return tmp_path


@pytest.mark.parametrize("argv,code,needle", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gets_a_clear_message_and_the_documented_exit_code(workdir, argv, code, needle):
    result = run(*argv, cwd=workdir, env=NO_ENGINE)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, (result.returncode, result.stdout[-500:], result.stderr[-500:])
    said = result.stderr + result.stdout  # validate reports its SV000 finding on stdout
    assert needle in said, said
    if code == 2:
        assert said.strip(), "an exit 2 always says why"


def test_unknown_service_is_refused_before_the_engine_is_asked(workdir):
    result = run("up", "-d", "-f", "ok.yml", "nosuch", cwd=workdir, env=NO_ENGINE)
    assert result.returncode == 2 and "no Docker Engine" not in result.stderr


def test_capture_from_an_unreachable_relay_leaves_an_existing_file_alone(workdir):
    target = workdir / "precious.cap"
    target.write_bytes(b"recorded yesterday")
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run("firehose", "capture", "--relay", f"127.0.0.1:{port}", "-o", str(target), cwd=workdir)
    assert result.returncode == 2 and "is the relay running?" in result.stderr, result.stderr
    assert target.read_bytes() == b"recorded yesterday"


def test_devrelay_on_a_busy_port_exits_2(workdir):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        result = run("devrelay", "--events", "5", "--accounts", "2", "--port", str(port), cwd=workdir)
    assert result.returncode == 2, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr and "Traceback" not in result.stderr


def _info_record() -> bytes:
    from supervisor.atproto.capture_io import write_capture_frame
    from supervisor.atproto.frames import encode_info

    buffer = io.BytesIO()
    write_capture_frame(buffer, encode_info("OutdatedCursor", "x"))
    return buffer.getvalue()


def test_ctrl_c_exits_130_with_one_line(workdir):
    # A FIFO fed without end: a decode that never ends by itself
    fifo = workdir / "endless.cap"
    os.mkfifo(fifo)
    record = _info_record()
    feed = f"import sys\nout = open(sys.argv[1], 'wb')\nwhile True:\n    out.write({record * 100!r})"
    feeder = subprocess.Popen([sys.executable, "-c", feed, str(fifo)], stderr=subprocess.DEVNULL)
    try:
        result = interrupt_once_reading(str(fifo), "firehose", "decode", str(fifo), "--format", "count", cwd=workdir)
    finally:
        feeder.kill()
        feeder.wait()
    assert result.returncode == 130, result.stderr
    assert result.stderr.strip().splitlines()[-1] == "interrupted" and "Traceback" not in result.stderr


def test_endless_garbage_stops_with_a_clear_error(workdir):
    zeros = workdir / "zeros.cap"
    zeros.write_bytes(b"\x00" * 100_000)  # 25,000 empty frames
    result = run("firehose", "decode", str(zeros), "--format", "count", cwd=workdir)
    assert result.returncode == 2, result.stderr
    assert "1000 malformed frames in a row: giving up" in result.stderr
    assert "is a device, not a file" in run("firehose", "decode", "/dev/zero", cwd=workdir).stderr
    for command in ("dump", "inspect"):
        refused = run("repo", command, "/dev/urandom", cwd=workdir)
        assert refused.returncode == 2 and "is a device, not a file" in refused.stderr, refused.stderr


def test_a_reader_that_goes_away_is_not_an_error_of_the_input_file(workdir):
    # `supervisor firehose decode big.cap | head -1`: stdout closes after the first line
    capture = workdir / "many.cap"
    capture.write_bytes(_info_record() * 200_000)
    proc = subprocess.Popen(
        [*CLI, "firehose", "decode", str(capture)], cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stdout.readline().startswith(b'{"type": "#info"')
    proc.stdout.close()
    err = proc.stderr.read().decode() if proc.stderr else ""
    assert proc.wait(timeout=30) == 141, err
    assert "Traceback" not in err and "many.cap" not in err


def test_unexpected_errors_become_one_line(workdir, monkeypatch):
    # The safety net of the command group: an internal error prints one line and exits 2.
    from click.testing import CliRunner

    import supervisor.cli.atproto as atproto_cli
    from supervisor.cli import main

    def broken(_data, **_options):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(atproto_cli, "load_repo", broken)
    monkeypatch.delenv("SUPERVISOR_DEBUG", raising=False)
    result = CliRunner().invoke(main, ["repo", "inspect", str(workdir / "ok.yml")])
    assert result.exit_code == 2
    assert "unexpected ZeroDivisionError: division by zero" in result.output
    assert "SUPERVISOR_DEBUG=1" in result.output


def test_devrelay_refuses_to_overwrite_the_capture_it_serves(workdir):
    served = workdir / "served.cap"
    served.write_bytes(FILES["malformed.cap"])
    result = run("devrelay", "--capture", str(served), "--write-capture", "./served.cap", cwd=workdir)
    assert result.returncode == 2 and "name the same file" in result.stderr, result.stderr
    assert served.read_bytes() == FILES["malformed.cap"]
