"""No command prints a secret: every output format, explain, audit --all-vars, config with provenance.

``config --no-mask`` is the one documented exception.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from .support import NO_ENGINE, run

COMPOSE = """
services:
  worker:
    image: x
    command: supervisor worker
    env_file: extra.env
    environment:
      BACKFILL_DAYS: ${BACKFILL_DAYS:-3}
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD}
      API_KEY: apikeyvalue
      JWT_SECRET: jwtsecretvalue
      DATABASE_URL: postgres://u:urlpw@h/db
      UNENCODED_URL: postgres://u:p@ss/word@h/db
      CONNINFO: host=db user=u password=conninfopw dbname=x
      OTHER_URL: ${DBURL}
      PLAIN: "prefix postgres://u2:textpw@h/db suffix"
      MY_TOKEN_X: tokval
      DB_PASS: dbpassval
    build:
      context: .
      args:
        BUILD_PASSWORD: buildpw
  app:
    image: x
    command: node dist/index.js
    environment:
      BACKFILL_DAYS: "7d"
      DATABASE_URL: ${DBURL}
      pm_id: ${POSTGRES_PASSWORD}
      NODE_APP_INSTANCE: ${SHORT_SECRET}
"""

DOTENV = """
POSTGRES_PASSWORD=dotenvpgpw
DBURL=postgres://app:dotenvurlpw@db:5432/appview
SHORT_SECRET=in
"""

EXTRA = """
AWS_SECRET_ACCESS_KEY=awssecretval
SOME_KEY=somekeyval
"""

SECRETS = [
    "apikeyvalue",
    "jwtsecretvalue",
    "urlpw",
    "p@ss/word",
    "ss/word",
    "conninfopw",
    "dotenvpgpw",
    "dotenvurlpw",
    "awssecretval",
    "somekeyval",
    "textpw",
    "tokval",
    "dbpassval",
    "buildpw",
]

COMMANDS = (
    [
        ["config"],
        ["config", "--format", "json"],
        ["config", "--provenance"],
        ["config", "--provenance", "--format", "json"],
        ["config", "--services"],
    ]
    + [["validate", "--format", f] for f in ("text", "json", "sarif", "github")]
    + [["audit", "--format", f, *extra] for f in ("table", "json", "csv", "markdown") for extra in ([], ["--all-vars"])]
    + [
        ["explain", service, variable, *fmt]
        for service in ("worker", "app")
        for variable in (
            "BACKFILL_DAYS",
            "POSTGRES_PASSWORD",
            "pm_id",
            "NODE_APP_INSTANCE",
            "DATABASE_URL",
            "OTHER_URL",
            "CONNINFO",
            "AWS_SECRET_ACCESS_KEY",
            "DB_PASS",
        )
        for fmt in ([], ["--format", "json"])
    ]
    + [["up", "-d"], ["status"]]
)


@pytest.fixture(scope="module")
def project_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("secrets")
    (folder / "compose.yaml").write_text(textwrap.dedent(COMPOSE))
    (folder / ".env").write_text(DOTENV)
    (folder / "extra.env").write_text(EXTRA)
    (folder / "Dockerfile").write_text("FROM scratch\n")
    return folder


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(c) for c in COMMANDS])
def test_no_output_shows_a_secret(project_dir, argv):
    result = run(*argv, cwd=project_dir, env=NO_ENGINE)
    assert "Traceback" not in result.stderr, result.stderr
    shown = result.stdout + result.stderr
    leaked = [s for s in SECRETS if s in shown]
    assert not leaked, (leaked, shown[:3000])


def test_a_secret_substituted_into_another_variable_is_masked_in_config(project_dir):
    result = run("config", "--format", "json", cwd=project_dir)
    app = __import__("json").loads(result.stdout)["services"]["app"]["environment"]
    assert app["pm_id"] == "****"
    assert app["NODE_APP_INSTANCE"] == "****"  # short secrets are masked as whole values
    assert app["DATABASE_URL"] == "postgres://app:****@db:5432/appview"


def test_short_secrets_do_not_garble_other_text(project_dir):
    # "in" is a secret value, masked where it is a whole value; other words keep their letters
    result = run("explain", "app", "NODE_APP_INSTANCE", cwd=project_dir)
    assert "NODE_APP_INSTANCE=****" in result.stdout
    assert "live_instance = parseInt(NODE_APP_INSTANCE" in result.stdout, result.stdout


def test_config_no_mask_is_the_documented_exception(project_dir):
    result = run("config", "--no-mask", cwd=project_dir)
    assert result.returncode == 0
    for secret in ("apikeyvalue", "dotenvpgpw", "conninfopw", "buildpw"):
        assert secret in result.stdout


def test_url_passwords_in_error_messages_are_masked(tmp_path):
    result = run("firehose", "capture", "--relay", "ws://user:relaypw@127.0.0.1:1", "-o", "c.cap", cwd=tmp_path)
    assert result.returncode == 2 and "relaypw" not in result.stderr and "user:****@" in result.stderr
