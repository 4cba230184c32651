"""A secret that the project also shows in the open is not masked inside other text."""

from supervisor.compose.loader import load_project
from supervisor.compose.model import LoadOptions
from supervisor.secrets import redact, secret_values

COMPOSE = """
name: appview
services:
  db:
    image: postgres
    environment:
      POSTGRES_USER: appview
      POSTGRES_PASSWORD: ${POSTGRES_PASSWORD:-appview}
  app:
    image: appview-app
    environment:
      pm_id: ${APP_SECRET:-}
"""


def _project(tmp_path, **shell):
    (tmp_path / "compose.yaml").write_text(COMPOSE)
    return load_project(LoadOptions(cwd=str(tmp_path), environ=shell))


def test_value_shown_openly_elsewhere_is_not_a_secret(tmp_path):
    secrets = secret_values(_project(tmp_path))
    assert "appview" not in secrets
    assert redact("publicappview-typescript on appview-app-1", secrets) == "publicappview-typescript on appview-app-1"


def test_real_secret_still_masked_inside_text(tmp_path):
    secrets = secret_values(_project(tmp_path, POSTGRES_PASSWORD="hunter2hunter2", APP_SECRET="s3cr3t-value"))
    assert {"hunter2hunter2", "s3cr3t-value"} <= secrets
    assert "hunter2hunter2" not in redact("password is hunter2hunter2 here", secrets)
    assert redact("pm_id=s3cr3t-value", secrets) == "pm_id=****"
