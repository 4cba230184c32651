"""Property: validate fails (exit 1) exactly when two enabled writers share a cursor name,
according to a small model of the three implementations written here independently."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from supervisor.policy.findings import exit_code
from tests.policy.builders import evaluate_project, project, service

# BACKFILL_DAYS values and what each language makes of them (None: Python raises).
DAYS = {
    "0": (0, 0),
    "1": (1, 1),
    "3": (3, 3),
    "-1": (-1, -1),
    "-5": (-5, -5),
    " 2 ": (2, 2),
    "1_0": (10, 1),
    "7d": (None, 7),
    "0x10": (None, 16),
    "": (None, None),
    None: (0, 0),
}
WORKER_IDS = {"0": 0, "1": 1, "2": 2, " 0": 0, None: 0}


def python_backfills(days: int) -> bool:
    return days == -1 or days > 0


def model_collision(services: list[dict]) -> bool:
    """Count the writers per cursor name by hand."""
    counts: dict[str, int] = {}

    def add(name: str, n: int) -> None:
        counts[name] = counts.get(name, 0) + n

    for s in services:
        replicas = s["replicas"]
        if s["impl"] in ("python", "worker"):
            days = DAYS[s["days"]][0]
            wid = WORKER_IDS[s["wid"]]
            if s["impl"] == "worker":
                bname, lname = s["bname"] or "backfill", s["lname"] or "firehose"
                if bname == lname:
                    continue  # refuses to start
                add(lname, replicas)
            else:
                bname = "backfill"
            if wid == 0 and python_backfills(days):
                add(bname, replicas)
        else:
            days = DAYS[s["days"]][1] if s["days"] else 0  # BACKFILL_DAYS || "0"
            instances = s["instances"]
            # PM2: instance 0 of each container is the primary (pm_id assigned by PM2)
            if days is not None and days > 0:
                add("backfill", replicas)
            if s["firehose"] == "true":
                forced = s["nai"]
                if forced is None:
                    add("firehose", replicas)
                elif forced in ("0", "00", ""):
                    add("firehose", replicas * instances)
    return any(n > 1 for n in counts.values())


def crash(s: dict) -> bool:
    if s["impl"] == "worker" and (s["bname"] or "backfill") == (s["lname"] or "firehose"):
        return True  # this project's worker refuses one row for both
    return s["impl"] in ("python", "worker") and DAYS[s["days"]][0] is None


service_strategy = st.fixed_dictionaries(
    {
        "impl": st.sampled_from(["python", "worker", "ts"]),
        "days": st.sampled_from(list(DAYS)),
        "wid": st.sampled_from(list(WORKER_IDS)),
        "replicas": st.sampled_from([0, 1, 1, 1, 2, 3]),
        "instances": st.sampled_from([1, 2, 4]),
        "firehose": st.sampled_from([None, "true", "false"]),
        "nai": st.sampled_from([None, None, "0", "1", "00", ""]),
        "pm_id": st.sampled_from([None, None, "1", "0"]),
        "bname": st.sampled_from([None, "backfill", "backfill_python"]),
        "lname": st.sampled_from([None, "firehose", "firehose_python", "backfill"]),
    }
)


def build(specs: list[dict]):
    services = []
    for i, s in enumerate(specs):
        env: dict = {}
        if s["days"] is not None:
            env["BACKFILL_DAYS"] = s["days"]
        if s["impl"] == "ts":
            command = ["pm2-runtime", "start", "dist/index.js", "-i", str(s["instances"])]
            for key, value in (
                ("FIREHOSE_ENABLED", s["firehose"]),
                ("NODE_APP_INSTANCE", s["nai"]),
                ("pm_id", s["pm_id"]),
            ):
                if value is not None:
                    env[key] = value
        else:
            command = ["supervisor", "worker"] if s["impl"] == "worker" else ["python", "unified_worker.py"]
            if s["wid"] is not None:
                env["WORKER_ID"] = s["wid"]
            if s["impl"] == "worker":
                if s["bname"] is not None:
                    env["BACKFILL_CURSOR_SERVICE"] = s["bname"]
                if s["lname"] is not None:
                    env["FIREHOSE_CURSOR_SERVICE"] = s["lname"]
        services.append(service(f"s{i}", env, command=command, replicas=s["replicas"], line=10 + 20 * i))
    return project(*services)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(service_strategy, min_size=1, max_size=4))
def test_exit_1_exactly_when_writers_collide(specs):
    specs = [s for s in specs if not crash(s)]  # crashing values are their own error (SV003)
    if not specs:
        return
    evaluation = evaluate_project(build(specs), root="/proj")
    collide = model_collision(specs)
    assert (exit_code(evaluation.findings) == 1) is collide, [f.message for f in evaluation.findings]
    assert any(f.code in ("SV001", "SV002") and f.severity == "error" for f in evaluation.findings) is collide


@settings(max_examples=100, deadline=None)
@given(st.lists(service_strategy, min_size=1, max_size=3))
def test_crashing_values_always_fail(specs):
    evaluation = evaluate_project(build(specs), root="/proj")
    if any(crash(s) and s["replicas"] > 0 for s in specs):
        assert exit_code(evaluation.findings) == 1
        assert any(f.code == "SV003" for f in evaluation.findings)
