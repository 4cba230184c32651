"""Hand-picked hostile inputs: each ends with its documented code and message, and shows no secret.

Compose files, .env files, special files, aliases and nesting, frames and CARs; every project case
runs through every command and output format (see ``harness.PROJECT_COMMANDS``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Optional

import pytest

from supervisor.atproto.repo import export_repo

from .harness import SECRET, assert_no_secret, run_cli, run_project

SERVICE = "services:\n  s:\n    image: x\n"
ENV = f"DB_PASSWORD={SECRET}\nAPI_KEY={SECRET}\n"


def _laughs() -> str:
    text = 'x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n'
    for index in range(1, 10):
        name, previous = chr(97 + index), chr(96 + index)
        text += f"x-{name}: &{name} [" + ",".join([f"*{previous}"] * 9) + "]\n"
    return text + SERVICE + "    labels: {a: *j}\n"


def _env(value: str) -> str:
    return SERVICE + f"    environment:\n      A: '{value}'\n"


# name -> (compose.yaml, extra files, expected config -q code, message in config -q's stderr)
PROJECTS: dict[str, tuple[str, dict[str, str], int, str]] = {
    "template-openers": (_env("${" * 10_000), {}, 2, "invalid interpolation format"),
    "unterminated-default": (_env("${A:-" + "x" * 100_000), {}, 2, "invalid interpolation format"),
    "long-value": (_env("x" * 100_000), {}, 0, ""),
    "port-range": (SERVICE + "    ports: ['1-1000000']\n", {}, 2, "compose.yaml:4:13: invalid containerPort"),
    "include-int": ("include: 1\n" + SERVICE, {}, 2, "compose.yaml:1:1: include must be a list"),
    "include-path-int": ("include: [{path: 1}]\n" + SERVICE, {}, 2, "compose.yaml:1:"),
    "huge-number-pm2": (
        "services:\n  app:\n    image: x\n    command: pm2-runtime start dist/index.js -i 4\n"
        "    x-supervisor: {implementation: publicappview-typescript}\n    environment:\n"
        "      BACKFILL_DAYS: '" + "9" * 5000 + "'\n",
        {},
        0,
        "",
    ),
    "env-value-bomb": (
        SERVICE + "    environment:\n      D: ${D}\n",
        {
            ".env": ENV
            + "A="
            + "x" * 100_000
            + "\nB="
            + "${A}" * 20
            + "\nC="
            + "${B}" * 20
            + "\nD="
            + "${C}" * 20
            + "\n"
        },
        2,
        ".env:5:3: interpolation produces more than 16 MiB",
    ),
    "billion-laughs": (_laughs(), {}, 2, "compose.yaml:7:6: this value expands to more than 1,000,000 nodes"),
    "recursive-alias": ("x-a: &a [*a]\n" + SERVICE, {}, 2, "compose.yaml:1:6: recursive alias"),
    "deep-lists": (SERVICE + "    x-deep: " + "[" * 10_000 + "]" * 10_000 + "\n", {}, 2, "maximum nesting depth"),
    "deep-mappings": ("x-deep: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n" + SERVICE, {}, 2, "maximum nesting depth"),
    # compose panics here; we refuse with the field and its place
    "logging-null": (SERVICE + "    logging: null\n", {}, 2, "compose.yaml:4:5: "),
    "dockerfile-dev-zero": (SERVICE + "    build: {context: ., dockerfile: /dev/zero}\n", {}, 0, ""),
    "env-file-dev-zero": (SERVICE + "    env_file: /dev/zero\n", {}, 2, "/dev/zero"),
    "env-file-directory": (SERVICE + "    env_file: a_dir\n", {}, 2, "a_dir"),
    "secret-in-cpus": (SERVICE + "    cpus: ${API_KEY}\n", {}, 2, "****"),
    "secret-in-mem-limit": (SERVICE + "    mem_limit: ${API_KEY}\n", {}, 2, "****"),
    "secret-in-missing-extends": (SERVICE + "    extends: {file: '${API_KEY}.yml', service: s}\n", {}, 2, "****"),
    "secret-literal-reused": (
        SERVICE + f"    environment:\n      OTHER: {SECRET}\n      DB_PASSWORD: {SECRET}\n"
        f"    command: [run, '{SECRET}']\n    labels: [a={SECRET}]\n",
        {},
        0,
        "",
    ),
    "secret-from-dotenv-in-command": (
        "services:\n  s:\n    command: [run, '${DB_PASSWORD}']\n    image: 'x${API_KEY}'\n",
        {},
        0,
        "",
    ),
    "unterminated-quote-dotenv": (SERVICE, {".env": f'DB_PASSWORD="{SECRET}\nB=1\n'}, 2, "unterminated quoted value"),
    "network-mode-cycle": (
        "services:\n  a:\n    image: x\n    network_mode: service:b\n  b:\n    image: x\n    network_mode: service:a\n",
        {},
        2,
        "cycle",
    ),
    "links-cycle": (
        "services:\n  a:\n    image: x\n    links: [b]\n  b:\n    image: x\n    links: [a]\n",
        {},
        2,
        "cycle",
    ),
    "utf16": ("", {"compose.yaml": "\ufeff" + SERVICE}, 0, ""),
}


def _write(root: Path, compose: str, files: dict[str, str]) -> None:
    (root / ".env").write_text(ENV)
    (root / "a_dir").mkdir()
    (root / "compose.yaml").write_text(compose)
    for name, text in files.items():
        if name == "compose.yaml":
            (root / name).write_bytes(text.encode("utf-16"))
        else:
            (root / name).write_text(text)


@pytest.mark.parametrize("name", sorted(PROJECTS))
def test_project(name: str, tmp_path: Path) -> None:
    compose, files, code, message = PROJECTS[name]
    _write(tmp_path, compose, files)
    quiet = run_cli(("config", "-q"), tmp_path)
    assert quiet.code == code, quiet.text[-2000:]
    assert message in quiet.stderr, quiet.text[-2000:]
    assert_no_secret([quiet, *run_project(tmp_path, explain=("s",))])


def _fifo(root: Path) -> str:
    os.mkfifo(root / "fifo")
    return "fifo"


def _symlink_loop(root: Path) -> str:
    os.symlink("loop", root / "loop")
    return "loop"


SPECIAL: dict[str, Callable[[Path], str]] = {
    "fifo": _fifo,
    "symlink-loop": _symlink_loop,
    "dev-zero": lambda root: "/dev/zero",
    "dev-urandom": lambda root: "/dev/urandom",
    "directory": lambda root: ".",
}


COMMANDS = [("firehose", "decode"), ("repo", "dump"), ("repo", "inspect"), ("env_file",), ("-f",)]
# a FIFO without a writer is refused after a wait (FIFO_WAIT_SECONDS): two readers of it suffice
SPECIAL_CASES = [
    (kind, command)
    for kind in sorted(SPECIAL)
    for command in COMMANDS
    if kind != "fifo" or command in (("firehose", "decode"), ("env_file",))
]


@pytest.mark.parametrize(("kind", "command"), SPECIAL_CASES, ids=[f"{k}-{' '.join(c)}" for k, c in SPECIAL_CASES])
def test_special_files_are_refused(kind: str, command: tuple[str, ...], tmp_path: Path) -> None:
    path = SPECIAL[kind](tmp_path)
    if command == ("env_file",):
        (tmp_path / "compose.yaml").write_text(SERVICE + f"    env_file: {path}\n")
        args: tuple[str, ...] = ("config", "-q")
    elif command == ("-f",):
        args = ("-f", path, "config", "-q")
    else:
        args = (*command, path)
    outcome = run_cli(args, tmp_path)
    assert outcome.code == 2, outcome.text[-2000:]
    assert path in outcome.stderr or os.path.abspath(tmp_path / path) in outcome.stderr, outcome.stderr


REPO = export_repo("did:plc:abc", "3kabc", {f"app.bsky.feed.post/3k{i:03d}": {"text": str(i)} for i in range(23)})
CARS: dict[str, Optional[bytes]] = {
    "cut-in-half": REPO[: len(REPO) // 2],
    "one-flipped-byte": REPO[:-10] + bytes([REPO[-10] ^ 1]) + REPO[-9:],
    "empty": b"",
    "header-only": REPO[:60],
}


@pytest.mark.parametrize("name", sorted(CARS))
def test_broken_cars(name: str, tmp_path: Path) -> None:
    (tmp_path / "r.car").write_bytes(CARS[name] or b"")
    for args in (("repo", "dump", "r.car"), ("repo", "inspect", "r.car")):
        outcome = run_cli(args, tmp_path)
        assert outcome.code == 2, outcome.text[-2000:]


def test_a_capture_of_zero_bytes_frames_gives_up(tmp_path: Path) -> None:
    (tmp_path / "c.bin").write_bytes(b"\x00" * 100_000)
    outcome = run_cli(("firehose", "decode", "c.bin"), tmp_path)
    assert outcome.code == 2 and "malformed frames in a row" in outcome.stderr, outcome.text[-2000:]
