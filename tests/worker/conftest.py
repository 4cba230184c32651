"""Fixtures: devrelay and worker subprocesses, stopped at the end of each test."""

from __future__ import annotations

import shutil
from typing import Callable, Iterator

import pytest

from .support import Relay, WorkerProcess, new_workdir


@pytest.fixture()
def workdir() -> Iterator:
    path = new_workdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture()
def start_relay(workdir) -> Iterator[Callable[..., Relay]]:
    """Start a devrelay with the given command-line arguments."""
    relays: list[Relay] = []

    def start(*args: str) -> Relay:
        relay = Relay(workdir, *args)
        relays.append(relay)
        return relay

    yield start
    for relay in relays:
        relay.stop()


@pytest.fixture()
def start_worker(workdir) -> Iterator[Callable[..., WorkerProcess]]:
    """Start a worker subprocess with extra environment variables (its log: workdir/worker-N.log)."""
    workers: list[WorkerProcess] = []

    def start(env: dict[str, str], *args: str, log_name: str = "worker") -> WorkerProcess:
        relay_url = env.get("RELAY_URL", "")
        if relay_url.startswith("ws://") and "PLC_DIRECTORY_URL" not in env:
            # The devrelay is the accounts' PLC directory and PDS too.
            env = {**env, "PLC_DIRECTORY_URL": "http://" + relay_url[len("ws://") :].split("/", 1)[0]}
        worker = WorkerProcess(env, workdir / f"{log_name}.log", *args)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()
