"""SV011: its cases, in memory (a build context as a mapping of files)."""

from __future__ import annotations

import pytest

from supervisor.policy.sources import BuildContext
from tests.policy.builders import service
from tests.policy.rules.table import findings_of

DOCKERFILE = 'FROM node:20\nWORKDIR /app\nCMD ["node", "dist/index.js"]\n'
BUILD = '{"scripts": {"build": "esbuild server/index.ts --outfile=dist/index.js"}}'
KNOWN = {
    "server/index.ts": "const w = process.env.pm_id;\nimport('./services/backfill');\n",
    "server/routes.ts": "if (process.env.FIREHOSE_ENABLED === 'true' && parseInt(process.env.NODE_APP_INSTANCE || '0') === 0) {}\n",
    "server/services/firehose.ts": "saveFirehoseCursor('firehose')\n",
}

CASES = [
    (KNOWN, {}, 0, []),
    (
        {**KNOWN, "server/routes.ts": "start();\n", "server/services/firehose.ts": ""},
        {},
        1,
        ["match none of its versions", "Missing:"],
    ),
    ({**KNOWN, "server/routes.ts": "start();\n"}, {"variant": "primary-backfill"}, 0, []),
    (KNOWN, {"variant": "v99"}, 1, ["'v99' is not a variant"]),
]


@pytest.mark.parametrize("files,extension,count,fragments", CASES)
def test_sv011_unknown_variant(files, extension, count, fragments):
    context = BuildContext("", "Dockerfile", DOCKERFILE, None, {"package.json": BUILD, **files})
    found = findings_of("SV011", [service("app", {}, extension=extension)], contexts={"app": context})
    assert len(found) == count, [f.message for f in found]
    for finding in found:
        assert all(fragment in finding.message for fragment in fragments), finding.message
