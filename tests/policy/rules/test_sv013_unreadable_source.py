"""SV013: a refused build context file makes validate exit 2 with a located message, never a traceback."""

from __future__ import annotations

import json
import os

import pytest
from click.testing import CliRunner

from supervisor.cli import main
from supervisor.policy.sources import MAX_SOURCE_BYTES

COMPOSE = "services:\n  app:\n    build: .\n"


def _fifo(root):
    os.mkfifo(root / "Dockerfile")


def _large(root):
    (root / "Dockerfile").write_text('FROM node:20\nCMD ["node", "dist/index.js"]\n')
    (root / "package.json").write_text('{"scripts": {"build": "esbuild server/index.ts --outfile=dist/index.js"}}')
    (root / "server").mkdir()
    (root / "server" / "index.ts").write_text("x" * (MAX_SOURCE_BYTES + 1))


@pytest.mark.parametrize(
    "make,fragment,where",
    [
        (_fifo, "not a regular file", "docker-compose.yml:3:5"),  # the Dockerfile: at the build key naming it
        (_large, "more than the 1048576 bytes", "index.ts"),
    ],
)
def test_sv013_unreadable_source(tmp_path, monkeypatch, make, fragment, where):
    (tmp_path / "docker-compose.yml").write_text(COMPOSE)
    make(tmp_path)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["validate", "--format", "json"], catch_exceptions=False)
    assert result.exit_code == 2
    (finding,) = json.loads(result.output)["findings"]
    assert finding["code"] == "SV013" and fragment in finding["message"]
    loc = finding["location"]
    assert ":".join(str(part) for part in (loc["file"], loc["line"], loc["column"]) if part).endswith(where)
    text = CliRunner().invoke(main, ["validate"], catch_exceptions=False)
    assert text.exit_code == 2 and text.output.splitlines()[0].split(": error SV013")[0].endswith(where)
    audit = CliRunner().invoke(main, ["audit"], catch_exceptions=False)
    assert audit.exit_code == 2 and fragment in audit.output
