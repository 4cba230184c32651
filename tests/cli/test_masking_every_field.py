"""``config`` masks a secret in every field, not only in the environment, and no more than secrets.

Each secret value below must be absent from every output format; each open value must be shown.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .support import run

COMPOSE = """
x-admin:
  admin_password: adminpw111
services:
  db:
    image: postgres:16
    environment:
      POSTGRES_PASSWORD: postgres
      DATABASE_URL: postgresql://postgres:${POSTGRES_PASSWORD:-postgres}@db:5432/postgres
    healthcheck:
      test: ["CMD-SHELL", "PGPASSWORD=healthpw22 pg_isready -U postgres"]
    command: ["app", "--token=cmdtoken33", "--api-key", "cmdkey4444", "--max-tokens", "5"]
    labels:
      traefik.http.middlewares.a.basicauth.users: "admin:hashpw5555"
      backup.url: "s3://AKIA:labelpw666@bucket"
  app:
    image: x
    build:
      context: .
      args:
        NPM_TOKEN: npmtok7777
    environment:
      POSTGRES_PASSWORD_FILE: /run/secrets/pw
      MAX_TOKENS: "100"
      PRIMARY_KEY: id
      SSH_PUBLIC_KEY: ssh-ed25519 AAAAopen
      SECRETS_DIR: /run/secrets
      PRIVATE_NETWORK: "true"
"""

SECRETS = ["adminpw111", "healthpw22", "cmdtoken33", "cmdkey4444", "hashpw5555", "labelpw666", "npmtok7777"]
OPEN = [
    "postgresql://postgres:****@db:5432/postgres",
    "/run/secrets/pw",
    "ssh-ed25519 AAAAopen",
    "--max-tokens",
    "pg_isready -U postgres",
    "MAX_TOKENS",
    "PRIMARY_KEY: id",
    "/run/secrets",
]


@pytest.mark.parametrize("args", [["config"], ["config", "--format", "json"], ["config", "--format", "yaml"]])
def test_config_masks_secrets_in_every_field(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    result = run(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    shown = [secret for secret in SECRETS if secret in output]
    assert not shown, f"printed in clear: {shown}"
    hidden = [value for value in OPEN if value not in output.replace('"', "").replace("'", "")]
    assert not hidden, f"open values masked: {hidden}\n{output}"


def test_no_mask_prints_everything(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    result = run("config", "--no-mask", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert all(secret in result.stdout for secret in SECRETS)
