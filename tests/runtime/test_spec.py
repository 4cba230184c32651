"""Service settings -> Engine create bodies, one rule per test (no Docker needed)."""

from __future__ import annotations

import pytest

from supervisor.runtime import labels as L
from supervisor.runtime import spec as S
from supervisor.runtime.errors import InvalidSpec

from .helpers import project_from

BASE = """
services:
  web:
    image: example/web:1
    command: ["serve", "--port", "8080"]
    entrypoint: ["/bin/entry"]
    environment:
      PLAIN: value
      DOLLAR: "a$$b"
      FROM_SHELL:
    ports:
      - "127.0.0.1:8080:80"
      - "9000"
    volumes:
      - data:/data
      - ./conf:/conf:ro
    healthcheck:
      test: ["CMD", "check"]
      interval: 1m30s
      timeout: 500ms
      retries: 4
      start_period: 10s
      start_interval: 2s
    restart: on-failure:3
    stop_grace_period: 45s
    labels:
      team: indexing
    deploy:
      resources:
        limits: {cpus: "0.5", memory: 256M}
        reservations: {memory: 64M}
volumes:
  data:
"""


@pytest.fixture()
def web(tmp_path):
    project = project_from(tmp_path, BASE)
    return project, S.container_spec(project, "web", 1, api_version="1.44")


def test_name_and_image(web):
    _, spec = web
    assert spec.name == "demo-web-1"
    assert spec.body["Image"] == "example/web:1"


def test_environment_drops_unset_and_keeps_literal_dollar(web):
    _, spec = web
    assert "PLAIN=value" in spec.body["Env"]
    assert "DOLLAR=a$b" in spec.body["Env"]
    assert not any(e.startswith("FROM_SHELL") for e in spec.body["Env"])


def test_command_and_entrypoint(web):
    _, spec = web
    assert spec.body["Cmd"] == ["serve", "--port", "8080"]
    assert spec.body["Entrypoint"] == ["/bin/entry"]


def test_healthcheck_in_nanoseconds_with_start_interval(web):
    _, spec = web
    assert spec.body["Healthcheck"] == {
        "Test": ["CMD", "check"],
        "Interval": 90_000_000_000,
        "Timeout": 500_000_000,
        "StartPeriod": 10_000_000_000,
        "StartInterval": 2_000_000_000,
        "Retries": 4,
    }


def test_start_interval_dropped_with_a_warning_on_old_engines(tmp_path):
    project = project_from(tmp_path, BASE)
    spec = S.container_spec(project, "web", 1, api_version="1.41")
    assert "StartInterval" not in spec.body["Healthcheck"]
    assert any("start_interval" in w for w in spec.warnings)


def test_healthcheck_disable(tmp_path):
    project = project_from(
        tmp_path,
        """
        services:
          a: {image: x, healthcheck: {disable: true}}
    """,
    )
    assert S.container_spec(project, "a", 1).body["Healthcheck"] == {"Test": ["NONE"]}


def test_restart_policy_and_stop_timeout(web):
    _, spec = web
    assert spec.body["HostConfig"]["RestartPolicy"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert spec.body["StopTimeout"] == 45 and spec.stop_timeout == 45


def test_ports(web):
    _, spec = web
    host = spec.body["HostConfig"]
    assert spec.body["ExposedPorts"] == {"80/tcp": {}, "9000/tcp": {}}
    assert host["PortBindings"]["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": "8080"}]
    assert host["PortBindings"]["9000/tcp"] == [{"HostIp": "", "HostPort": ""}]


def test_volumes_named_and_bind(web, tmp_path):
    _, spec = web
    host = spec.body["HostConfig"]
    assert host["Mounts"] == [{"Type": "volume", "Source": "demo_data", "Target": "/data", "ReadOnly": False}]
    assert host["Binds"] == [f"{tmp_path}/conf:/conf:ro"]


def test_resources(web):
    _, spec = web
    host = spec.body["HostConfig"]
    assert host["NanoCpus"] == 500_000_000
    assert host["Memory"] == 256 * 1024 * 1024
    assert host["MemoryReservation"] == 64 * 1024 * 1024


def test_compose_labels(web, tmp_path):
    project, spec = web
    labels = spec.body["Labels"]
    assert labels["team"] == "indexing"
    assert labels[L.PROJECT] == "demo"
    assert labels[L.SERVICE] == "web"
    assert labels[L.CONTAINER_NUMBER] == "1"
    assert labels[L.ONEOFF] == "False"
    assert labels[L.CONFIG_HASH] == spec.config_hash
    assert labels[L.WORKING_DIR] == str(tmp_path)
    assert labels[L.CONFIG_FILES] == str(tmp_path / "compose.yml")


def test_default_network_with_service_alias(web):
    _, spec = web
    assert spec.body["HostConfig"]["NetworkMode"] == "demo_default"
    assert spec.body["NetworkingConfig"] == {"EndpointsConfig": {"demo_default": {"Aliases": ["web"]}}}


def test_second_network_is_connected_after_create(tmp_path):
    project = project_from(
        tmp_path,
        """
        services:
          a: {image: x, networks: [front, back]}
        networks: {front: {}, back: {}}
    """,
    )
    spec = S.container_spec(project, "a", 1)
    assert spec.body["HostConfig"]["NetworkMode"] == "demo_back"
    assert [n for n, _ in spec.extra_networks] == ["demo_front"]


def test_config_hash_follows_the_container_settings_only(tmp_path):
    one = project_from(tmp_path, "services:\n  a: {image: x, environment: {A: '1'}}\n")
    two = project_from(tmp_path, "services:\n  a: {image: x, environment: {A: '2'}}\n")
    depending = project_from(
        tmp_path,
        """
        services:
          a: {image: x, environment: {A: '1'}, depends_on: [b], pull_policy: always}
          b: {image: y}
    """,
    )
    h1 = S.config_hash(one.config["services"]["a"])
    assert h1 == S.config_hash(one.config["services"]["a"])
    assert h1 != S.config_hash(two.config["services"]["a"])
    assert h1 == S.config_hash(depending.config["services"]["a"])
    # as compose: the replica count is left out, the rest of deploy (even empty) is not
    scaled = [project_from(tmp_path, f"services:\n  a: {{image: x, deploy: {{replicas: {n}}}}}\n") for n in (2, 3)]
    assert S.config_hash(scaled[0].config["services"]["a"]) == S.config_hash(scaled[1].config["services"]["a"])


def test_build_without_image_is_named_after_project_and_service(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    project = project_from(tmp_path, "services:\n  api: {build: .}\n")
    assert S.container_spec(project, "api", 1).image == "demo-api"


@pytest.mark.parametrize("restart", ["sometimes", "always:3"])
def test_bad_restart_policy_is_a_typed_error(tmp_path, restart):
    project = project_from(tmp_path, f"services:\n  a: {{image: x, restart: '{restart}'}}\n")
    with pytest.raises(InvalidSpec, match="restart"):
        S.container_spec(project, "a", 1)


@pytest.mark.parametrize(
    "text,ns",
    [("5s", 5 * 10**9), ("1m0s", 60 * 10**9), ("1.5s", 1_500_000_000), ("250ms", 250_000_000), ("1h2m", 3720 * 10**9)],
)
def test_parse_duration(text, ns):
    assert S.parse_duration(text) == ns


@pytest.mark.parametrize("text", ["5", "five", "5x", ""])
def test_parse_duration_rejects(text):
    with pytest.raises(InvalidSpec, match="not a duration"):
        S.parse_duration(text)


def test_unsupported_keys_are_reported(tmp_path):
    project = project_from(tmp_path, "services:\n  a: {image: x, cgroup_parent: foo}\n")
    spec = S.container_spec(project, "a", 1)
    assert any("cgroup_parent" in w for w in spec.warnings)


def test_api_versions():
    assert S.api_at_least("1.44", "1.44") and S.api_at_least("1.45", "1.44")
    assert not S.api_at_least("1.41", "1.44")
