"""``in_dependency_order``: what waits waits, what is independent runs at once."""

from __future__ import annotations

import threading

import pytest

from supervisor.runtime.launcher import in_dependency_order


def test_a_service_runs_after_the_ones_it_waits_for_and_independent_ones_together() -> None:
    # down: db waits for web and worker, which depend on it and not on each other
    both_running = threading.Barrier(2, timeout=30)  # broken unless web and worker overlap
    log: list[str] = []
    lock = threading.Lock()

    def action(name: str) -> None:
        if name in ("web", "worker"):
            both_running.wait()
        with lock:
            log.append(name)

    in_dependency_order(["db", "web", "worker"], {"db": ["web", "worker"]}, action)
    assert log[-1] == "db" and sorted(log[:2]) == ["web", "worker"]


def test_parallel_one_runs_one_at_a_time() -> None:
    active = []
    peak = []
    lock = threading.Lock()

    def action(name: str) -> None:
        with lock:
            active.append(name)
            peak.append(len(active))
        with lock:
            active.remove(name)

    in_dependency_order(["a", "b", "c", "d"], {}, action, parallel=1)
    assert max(peak) == 1 and len(peak) == 4


def test_an_error_stops_what_waits_and_is_raised() -> None:
    ran: list[str] = []

    def action(name: str) -> None:
        if name == "web":
            raise RuntimeError("web failed")
        ran.append(name)

    with pytest.raises(RuntimeError, match="web failed"):
        in_dependency_order(["db", "web"], {"db": ["web"]}, action)
    assert ran == []


STACK = """\
services:
  db:
    image: {image}
    command: ["python3", "-c", "import time; time.sleep(3600)"]
    stop_signal: SIGKILL
    healthcheck: {{test: ["CMD", "true"], interval: 1s, start_period: 0s}}
  web:
    image: {image}
    command: ["python3", "-c", "import time; time.sleep(3600)"]
    stop_signal: SIGKILL
    depends_on: {{db: {{condition: service_healthy, restart: true}}}}
  side:
    image: {image}
    command: ["python3", "-c", "import time; time.sleep(3600)"]
    stop_signal: SIGKILL
"""


def _events(engine, project: str, since: str, kinds: list[str]) -> list[tuple[str, str]]:
    import time as _time

    until = int(_time.time()) + 1
    out = []
    for event in engine.api.events(
        since=since,
        until=until,
        decode=True,
        filters={"label": [f"com.docker.compose.project={project}"], "type": "container"},
    ):
        status = event.get("status") or event.get("Action") or ""
        if any(status.startswith(k) for k in kinds):
            out.append((event["Actor"]["Attributes"].get("com.docker.compose.service", ""), status))
    return out


@pytest.mark.docker
@pytest.mark.parametrize("with_files", [True, False])
def test_down_and_restart_follow_the_dependencies(engine, project_name, tmp_path, with_files) -> None:
    import time as _time

    from .conftest import PYTHON_IMAGE, supervisor

    (tmp_path / "compose.yaml").write_text(STACK.format(image=PYTHON_IMAGE))
    up = supervisor("-p", project_name, "up", "-d", "--wait", "--wait-timeout", "120", cwd=tmp_path)
    assert up.returncode == 0, up.stderr

    since = f"{_time.time():.3f}"
    restart = supervisor("-p", project_name, "restart", "db", cwd=tmp_path)
    assert restart.returncode == 0, restart.stderr
    seen = _events(engine, project_name, since, ["start", "health_status: healthy"])
    db_healthy = seen.index(("db", "health_status: healthy"), seen.index(("db", "start")))
    assert ("web", "start") in seen[db_healthy:], seen  # web (restart: true) restarted after db was healthy

    since = f"{_time.time():.3f}"
    # without files (-p NAME from another folder), the depends_on labels give the order
    down = supervisor("-p", project_name, "down", cwd=tmp_path if with_files else tmp_path.parent)
    assert down.returncode == 0, down.stderr
    died = [service for service, _ in _events(engine, project_name, since, ["die"])]
    assert sorted(died) == ["db", "side", "web"]
    assert died.index("web") < died.index("db")
