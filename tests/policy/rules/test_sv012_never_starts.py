"""SV012: its cases, in memory."""

from __future__ import annotations

import pytest

from supervisor.policy.sources import BuildContext
from tests.policy.builders import service
from tests.policy.rules.table import findings_of

DOCKERFILE = 'FROM node:20\nWORKDIR /app\nCMD ["node", "dist/index.js"]\n'


def context(build: str) -> BuildContext:
    return BuildContext(
        "",
        "Dockerfile",
        DOCKERFILE,
        None,
        {"package.json": '{"scripts": {"build": "%s"}}' % build, "server/index.ts": "", "x/main.ts": ""},
    )


def waiting(name: str):
    svc = service(name, {})
    svc.config["depends_on"] = {"app": {"condition": "service_healthy"}}
    return svc


CASES = [
    ("esbuild server/index.ts x/main.ts --outdir=dist", [], 1, ["app never starts", "dist/index.js is not built"]),
    ("esbuild server/index.ts x/main.ts --outdir=dist", ["worker"], 1, ["wait for it, never start either: worker"]),
    ("esbuild server/index.ts --outfile=dist/index.js", ["worker"], 0, []),
]


@pytest.mark.parametrize("build,dependents,count,fragments", CASES)
def test_sv012_never_starts(build, dependents, count, fragments):
    found = findings_of(
        "SV012", [service("app", {})] + [waiting(n) for n in dependents], contexts={"app": context(build)}
    )
    assert len(found) == count, [f.message for f in found]
    for finding in found:
        assert all(fragment in finding.message for fragment in fragments), finding.message
