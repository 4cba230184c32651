"""Every loader rule, run through ``load_project`` and the real Docker Compose v2 binary.

Each case writes a few files into a temporary folder, then both resolve the
project with the same options and a clean environment.  The fields compose
prints are compared exactly (after undoing the ``$`` -> ``$$`` escaping of
``compose config``); refused inputs must be refused by both.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Optional

import pytest

from supervisor.compose.loader import load_project
from supervisor.compose.model import ComposeError, LoadOptions

from .oracle import compose_config

pytestmark = pytest.mark.differential


@dataclasses.dataclass
class Case:
    id: str
    files: dict[str, str]
    args: list[str] = dataclasses.field(default_factory=list)  # -f/-p/--env-file/--profile/--project-directory
    env: dict[str, str] = dataclasses.field(default_factory=dict)
    cwd: str = "."
    refused: bool = False


def _unescape(value: Any) -> Any:
    if isinstance(value, dict):
        return {_unescape(k): _unescape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_unescape(v) for v in value]
    if isinstance(value, str):
        return value.replace("$$", "$")
    return value


def _options(args: list[str], env: dict[str, str], cwd: Path) -> LoadOptions:
    options = LoadOptions(environ=dict(env), cwd=str(cwd))
    it = iter(args)
    for flag in it:
        value = next(it)
        if flag == "-f":
            options.files.append(value)
        elif flag == "-p":
            options.project_name = value
        elif flag == "--env-file":
            options.env_files.append(value)
        elif flag == "--profile":
            options.profiles.append(value)
        elif flag == "--project-directory":
            options.project_directory = value
        else:
            raise AssertionError(flag)
    return options


def _select(config: dict[str, Any]) -> dict[str, Any]:
    """The whole document: every field is compared."""
    return config


def write_files(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def run_case(case: Case, tmp_path: Path) -> tuple[Optional[dict], Optional[ComposeError], Any]:
    root = tmp_path / "proj"
    root.mkdir()
    write_files(root, case.files)
    cwd = (root / case.cwd).resolve()
    cwd.mkdir(parents=True, exist_ok=True)
    reference = compose_config(str(cwd), case.env, args=case.args)
    try:
        project = load_project(_options(case.args, case.env, cwd))
        error = None
    except ComposeError as exc:
        project, error = None, exc
    return project, error, reference


CASES = [
    # -- interpolation --------------------------------------------------------
    Case(
        "interpolation-defaults",
        {
            "compose.yaml": "services:\n  web:\n    image: ${IMG:-nginx}:${TAG-latest}\n"
            "    environment:\n      A: ${SET:+alt}\n      B: $$LITERAL\n      C: ${EMPTY:-d}\n",
        },
        env={"SET": "1", "EMPTY": ""},
    ),
    Case(
        "interpolation-dotenv",
        {
            "compose.yaml": "services:\n  web:\n    image: ${IMG}\n    environment:\n      - X=${FROM_DOTENV}\n",
            ".env": "IMG=busybox\nFROM_DOTENV=${IMG}-x\n",
        },
    ),
    Case(
        "shell-beats-dotenv",
        {
            "compose.yaml": "services:\n  web:\n    image: ${IMG}\n",
            ".env": "IMG=busybox\n",
        },
        env={"IMG": "alpine"},
    ),
    Case(
        "env-file-option",
        {
            "compose.yaml": "services:\n  web:\n    image: ${IMG}\n    environment:\n      - B=${B}\n",
            "a.env": "IMG=one\nB=b1\n",
            "b.env": "IMG=two\n",
            ".env": "IMG=ignored\n",
        },
        args=["--env-file", "a.env", "--env-file", "b.env"],
    ),
    Case(
        "unset-variable",
        {
            "compose.yaml": "services:\n  web:\n    image: nginx\n    environment:\n      - X=${NOPE}\n      - Y=${NOPE}\n",
        },
    ),
    Case(
        "required-variable",
        {
            "compose.yaml": "services:\n  web:\n    image: ${IMG:?set IMG}\n",
        },
        refused=True,
    ),
    Case(
        "malformed-template",
        {
            "compose.yaml": "services:\n  web:\n    image: ${IMG\n",
        },
        refused=True,
    ),
    Case(
        "casts",
        {
            "compose.yaml": "services:\n  web:\n    image: nginx\n    deploy: {replicas: '${N:-2}'}\n"
            "    healthcheck: {test: x, retries: '3'}\n    read_only: 'true'\n",
        },
    ),
    Case(
        "cast-error",
        {
            "compose.yaml": "services:\n  web:\n    image: nginx\n    deploy: {replicas: '${N:-two}'}\n",
        },
        refused=True,
    ),
    # -- YAML -----------------------------------------------------------------
    Case(
        "yaml12-scalars",
        {
            "compose.yaml": "services:\n  web:\n    image: nginx\n    environment:\n      A: yes\n      B: 0x1F\n"
            "      C: 1_000\n      D: 1.50\n      F: true\n      G: 0777\n      H: 1e3\n      I: .5\n",
        },
    ),
    Case(
        "yaml-timestamp",
        {
            "compose.yaml": "services:\n  web:\n    image: nginx\n    environment:\n      E: 2020-01-01\n",
        },
        refused=True,
    ),
    Case(
        "anchors-and-merge-keys",
        {
            "compose.yaml": "x-base: &base\n  image: nginx\n  environment: {A: '1'}\n"
            "services:\n  web:\n    <<: *base\n    command: run\n  api:\n    <<: *base\n"
            "    image: other\n",
        },
    ),
    Case("duplicate-key", {"compose.yaml": "services:\n  web:\n    image: a\n    image: b\n"}, refused=True),
    Case("invalid-yaml", {"compose.yaml": "services:\n  web:\n    image: [a\n"}, refused=True),
    Case("empty-file", {"compose.yaml": ""}, refused=True),
    Case("not-a-mapping", {"compose.yaml": "- a\n"}, refused=True),
    # -- schema ---------------------------------------------------------------
    Case("schema-unknown-key", {"compose.yaml": "services:\n  web:\n    image: a\n    foo: b\n"}, refused=True),
    Case("schema-wrong-type", {"compose.yaml": "services:\n  web:\n    image: a\n    ports: 80\n"}, refused=True),
    Case("no-image-no-build", {"compose.yaml": "services:\n  web:\n    command: x\n"}, refused=True),
    # -- normalisation --------------------------------------------------------
    Case(
        "canonical-forms",
        {
            "compose.yaml": 'services:\n  web:\n    build: ./app\n    command: echo "a b" c\n'
            "    entrypoint: /bin/sh -c\n    healthcheck:\n      test: curl -f x\n      interval: 90s\n"
            "      start_period: 0s\n    depends_on: [db]\n    labels: [a=b, c=d]\n"
            "    deploy:\n      resources: {limits: {memory: 512M, cpus: '0.5'}}\n"
            "    ports: ['8080:80', '9000-9001:9000-9001/udp', '127.0.0.1:53:53']\n"
            "    volumes: ['./data:/data:ro', 'named:/n', '/abs:/abs:rw,z']\n"
            "  db:\n    image: postgres\n    networks: [back]\n"
            "volumes:\n  named: {}\n  unused: {}\nnetworks:\n  back: {}\n  unused: {}\n",
        },
    ),
    Case(
        "external-resources",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    volumes: [ext:/x]\n    networks: [net]\n"
            "volumes:\n  ext: {external: true}\nnetworks:\n  net: {external: true}\n",
        },
    ),
    Case("network-mode", {"compose.yaml": "services:\n  web:\n    image: a\n    network_mode: host\n"}),
    Case(
        "extensions",
        {
            "compose.yaml": "x-top: {a: 1}\nservices:\n  web:\n    image: a\n    x-supervisor: {role: w}\n",
        },
    ),
    # -- environment resolution -----------------------------------------------
    Case(
        "env-file-then-environment",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    env_file: [one.env, two.env]\n"
            "    environment:\n      - OVER=env\n      - BARE\n      - EMPTY=\n      - FROM_SHELL\n",
            "one.env": "A=1\nOVER=file\nBARE=file\nREF=${A}-x\n",
            "two.env": "A=2\nB=${A}\n",
        },
        env={"FROM_SHELL": "shell"},
    ),
    Case(
        "env-file-long-form",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    env_file:\n      - path: missing.env\n"
            "        required: false\n      - path: raw.env\n        format: raw\n",
            "raw.env": "R='quoted' $x\n",
        },
    ),
    Case(
        "env-file-missing",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    env_file: missing.env\n",
        },
        refused=True,
    ),
    Case(
        "environment-mapping-null",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    environment:\n      SET_IN_SHELL:\n      NOT_SET:\n"
            "      NUM: 3\n",
        },
        env={"SET_IN_SHELL": "s"},
    ),
    # -- merge ----------------------------------------------------------------
    Case(
        "merge-override-file",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    command: one two\n    environment: {A: '1', B: '2'}\n"
            "    labels: {l1: a}\n    ports: ['80:80']\n    volumes: ['./a:/a']\n"
            "    depends_on: [db]\n    env_file: [e1.env]\n    dns: [1.1.1.1]\n"
            "    healthcheck: {test: [CMD, a], interval: 10s}\n  db:\n    image: b\n",
            "compose.override.yaml": "services:\n  web:\n    command: [three]\n    environment: [A=9, C=3]\n"
            "    labels: [l2=b]\n    ports: ['80:80', '81:81']\n    volumes: ['./b:/a']\n"
            "    depends_on: {db: {condition: service_healthy}}\n    env_file: [e2.env]\n"
            "    dns: [8.8.8.8]\n    healthcheck: {test: [CMD, b]}\n",
            "e1.env": "E=1\n",
            "e2.env": "E=2\nF=${E}\n",
        },
    ),
    Case(
        "merge-reset-override",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    environment: {A: '1'}\n    dns: [1.1.1.1]\n"
            "    ports: ['80:80']\n",
            "b.yaml": "services:\n  web:\n    environment: !override {B: '2'}\n    dns: !reset []\n"
            "    ports: !override ['81:81']\n",
        },
        args=["-f", "compose.yaml", "-f", "b.yaml"],
    ),
    Case(
        "merge-three-files",
        {
            "a.yaml": "services:\n  web:\n    image: a\n    environment: [X=a]\n",
            "b.yaml": "services:\n  web:\n    environment: [X=b, Y=b]\n  new:\n    image: n\n",
            "c.yaml": "services:\n  web:\n    image: c\n    environment: {Y: c}\n",
        },
        args=["-f", "a.yaml", "-f", "b.yaml", "-f", "c.yaml"],
    ),
    Case(
        "merge-type-conflict",
        {
            "a.yaml": "services:\n  web:\n    image: a\n    build: {context: .}\n",
            "b.yaml": "services:\n  web:\n    build: ./other\n",
        },
        args=["-f", "a.yaml", "-f", "b.yaml"],
    ),
    # -- extends / include ----------------------------------------------------
    Case(
        "extends-same-file",
        {
            "compose.yaml": "services:\n  base:\n    image: a\n    environment: {A: '1', B: '1'}\n"
            "    command: base\n  web:\n    extends: base\n    environment: {B: '2'}\n",
        },
    ),
    Case(
        "extends-other-file",
        {
            "compose.yaml": "services:\n  web:\n    extends: {file: sub/base.yaml, service: base}\n"
            "    environment: {OWN: o}\n",
            "sub/base.yaml": "services:\n  base:\n    build: ./ctx\n    env_file: e.env\n"
            "    volumes: ['./data:/data']\n    environment: {BASE: b}\n",
            "sub/e.env": "EF=1\n",
        },
    ),
    Case(
        "extends-cycle",
        {
            "compose.yaml": "services:\n  a:\n    image: x\n    extends: b\n  b:\n    image: y\n    extends: a\n",
        },
        refused=True,
    ),
    Case(
        "extends-missing",
        {
            "compose.yaml": "services:\n  a:\n    image: x\n    extends: nope\n",
        },
        refused=True,
    ),
    Case(
        "include",
        {
            "compose.yaml": "include:\n  - sub/inc.yaml\nservices:\n  web:\n    image: a\n    depends_on: [inc]\n",
            "sub/inc.yaml": "services:\n  inc:\n    build: .\n    environment:\n      - V=${V}\n",
            "sub/.env": "V=from-sub\n",
        },
    ),
    # -- profiles -------------------------------------------------------------
    Case(
        "profiles-disabled",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n  debug:\n    image: b\n    profiles: [dev]\n",
        },
    ),
    Case(
        "profiles-enabled-flag",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n  debug:\n    image: b\n    profiles: [dev]\n",
        },
        args=["--profile", "dev"],
    ),
    Case(
        "profiles-env",
        {
            "compose.yaml": "services:\n  debug:\n    image: b\n    profiles: [dev]\n  other:\n    image: c\n"
            "    profiles: [x]\n",
            ".env": "COMPOSE_PROFILES=dev\n",
        },
    ),
    Case(
        "profiles-star",
        {
            "compose.yaml": "services:\n  debug:\n    image: b\n    profiles: [dev]\n",
        },
        args=["--profile", "*"],
    ),
    Case(
        "profiles-dependency-disabled",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    depends_on: [debug]\n  debug:\n    image: b\n"
            "    profiles: [dev]\n",
        },
        refused=True,
    ),
    Case(
        "scale-and-replicas",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    scale: 2\n  api:\n    image: b\n"
            "    deploy: {replicas: 3}\n",
        },
    ),
    Case(
        "scale-conflict",
        {
            "compose.yaml": "services:\n  web:\n    image: a\n    scale: 2\n    deploy: {replicas: 3}\n",
        },
        refused=True,
    ),
    # -- discovery and names --------------------------------------------------
    Case(
        "default-files-in-parent",
        {
            "compose.yml": "services:\n  web:\n    image: a\n",
            "docker-compose.override.yml": "services:\n  web:\n    image: b\n",
            "deep/er/keep": "",
        },
        cwd="deep/er",
    ),
    Case(
        "compose-file-variable",
        {
            "one.yaml": "services:\n  web:\n    image: a\n",
            "two.yaml": "services:\n  web:\n    image: b\n",
        },
        env={"COMPOSE_FILE": "one.yaml,two.yaml", "COMPOSE_PATH_SEPARATOR": ","},
    ),
    Case(
        "compose-file-from-dotenv",
        {
            "one.yaml": "services:\n  web:\n    image: a\n",
            ".env": "COMPOSE_FILE=one.yaml\nCOMPOSE_PROJECT_NAME=fromdotenv\n",
        },
    ),
    Case(
        "disable-env-file",
        {
            "compose.yaml": "services:\n  web:\n    image: ${IMG:-default}\n",
            ".env": "IMG=fromdotenv\n",
        },
        env={"COMPOSE_DISABLE_ENV_FILE": "true"},
    ),
    Case("name-key", {"compose.yaml": "name: My_App!\nservices:\n  web:\n    image: a\n"}),
    Case(
        "name-interpolated",
        {"compose.yaml": "name: app-${SUFFIX}\nservices:\n  web:\n    image: a\n"},
        env={"SUFFIX": "x"},
    ),
    Case("name-flag-wins", {"compose.yaml": "name: app\nservices:\n  web:\n    image: a\n"}, args=["-p", "flag"]),
    Case(
        "name-env",
        {"compose.yaml": "services:\n  web:\n    image: ${COMPOSE_PROJECT_NAME}\n"},
        env={"COMPOSE_PROJECT_NAME": "fromenv"},
    ),
    Case(
        "name-invalid-flag",
        {"compose.yaml": "services:\n  web:\n    image: a\n"},
        args=["-p", "Bad Name"],
        refused=True,
    ),
    Case(
        "project-directory",
        {
            "sub/compose.yaml": "services:\n  web:\n    build: .\n    image: ${IMG}\n",
            "sub/.env": "IMG=sub\n",
        },
        args=["-f", "sub/compose.yaml"],
    ),
    Case("missing-file", {"compose.yaml": "services: {}\n"}, args=["-f", "nope.yaml"], refused=True),
    # -- rules found on real-world files and generated projects ---------------
    Case(
        "build-args-bare-names",
        {
            "compose.yaml": "services:\n  app:\n    build:\n      context: .\n      args: [FROM_SHELL, FROM_DOTENV, NOWHERE, "
            "EMPTY, 'LITERAL=']\n",
            ".env": "FROM_DOTENV=d\n",
        },
        env={"FROM_SHELL": "s", "EMPTY": ""},
    ),
    Case(
        "omitempty-fields",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    platform: ${PLATFORM:-}\n    hostname: ''\n"
            "    read_only: false\n    init: false\n    healthcheck: {disable: false}\n    logging: {}\n"
            "    build: {context: ., dockerfile: ''}\n    labels: {keep: ''}\n"
            "    depends_on: {db: {condition: service_started, restart: false}}\n"
            "    volumes: [{type: bind, source: ./d/, target: /d/, read_only: false}]\n"
            "    networks: {back: {priority: 0}}\n  db:\n    image: b\n    environment: []\n"
            "networks:\n  back: {name: '', internal: false, labels: {x: ''}}\n",
        },
    ),
    Case("empty-healthcheck-kept", {"compose.yaml": "services:\n  app:\n    image: a\n    healthcheck: {}\n"}),
    Case(
        "absolute-bind-source-kept",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    volumes: ['/etc/app/:/etc/app/', './rel/:/rel']\n",
        },
    ),
    Case(
        "secrets-configs-devices-long-form",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    secrets: [token]\n    configs: [conf]\n"
            "    devices: ['/dev/one:/dev/one', '/dev/two:/dev/2:r']\nsecrets:\n  token: {file: ./t.txt}\n"
            "configs:\n  conf: {file: conf/c.ini}\n",
        },
    ),
    Case(
        "scale-copied-into-deploy",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    deploy: {}\n",
            "o.yaml": "services:\n  app:\n    scale: 2\n",
        },
        args=["-f", "compose.yaml", "-f", "o.yaml"],
    ),
    Case(
        "env-file-bare-name",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    env_file: app.env\n",
            "app.env": "ONE=1\nFROM_SHELL\nNOT_SET\nTWO=${ONE}2\n",
        },
        env={"FROM_SHELL": ""},
    ),
    Case(
        "dotenv-and-env-file-warnings",
        {
            "compose.yaml": "name: w-${MISSING_A}\nservices:\n  app:\n    image: a${MISSING_B}${MISSING_B}\n"
            "    env_file: app.env\n",
            "app.env": "X=${MISSING_C}\n",
            ".env": "Y=${MISSING_D}\n",
        },
    ),
    Case(
        "dependency-cycle",
        {
            "compose.yaml": "services:\n  one:\n    image: a\n    depends_on: [two]\n  two:\n    image: a\n"
            "    depends_on: {one: {condition: service_started, required: false}}\n",
        },
        refused=True,
    ),
    Case(
        "self-dependency-through-extends",
        {
            "compose.yaml": "services:\n  base:\n    image: a\n    depends_on: [child]\n  child:\n    extends: base\n",
        },
        refused=True,
    ),
    Case(
        "optional-dependency-on-undeclared-service",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n"
            "    depends_on: {ghost: {condition: service_started, required: false}}\n",
        },
        refused=True,
    ),
    Case(
        "disabled-service-not-checked",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n  tool:\n    profiles: [tools]\n    env_file: none.env\n"
            "    scale: 2\n    deploy: {replicas: 3}\n",
        },
    ),
    Case(
        "env-file-mapping-refused",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    env_file: {path: a.env}\n",
            "a.env": "A=1\n",
        },
        refused=True,
    ),
    Case(
        "depends-on-long-form-needs-condition",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    depends_on: {db: {required: true}}\n  db:\n    image: b\n",
        },
        refused=True,
    ),
    Case(
        "override-empty-command",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    command: run\n    entrypoint: [sh]\n",
            "o.yaml": "services:\n  app:\n    command: !override ''\n    entrypoint: !override ''\n",
        },
        args=["-f", "compose.yaml", "-f", "o.yaml"],
    ),
    Case(
        "override-resource-with-null",
        {
            "compose.yaml": "services:\n  app:\n    image: a\nvolumes:\n  data: {name: d}\nnetworks:\n  front: {}\n",
            "o.yaml": "volumes:\n  data: null\n",
        },
        args=["-f", "compose.yaml", "-f", "o.yaml"],
    ),
    Case(
        "name-normalized-to-nothing-refused",
        {
            "compose.yaml": "name: '${T:-named}'\nservices:\n  app:\n    image: a\n",
        },
        env={"T": "\n_"},
        refused=True,
    ),
    Case("empty-name-falls-back-to-folder", {"compose.yaml": "name: ''\nservices:\n  app:\n    image: a\n"}),
    Case(
        "command-words-like-compose",
        {
            "compose.yaml": "services:\n"
            + "".join(
                f"  s{i}:\n    image: a\n    command: {json.dumps(line)}\n    entrypoint: {json.dumps(line)}\n"
                for i, line in enumerate(
                    [
                        r'"\0" "a\ b" "\$$x" "\\"',
                        "run; rm -rf /",
                        "a | b && c",
                        "a 2>/dev/null b",
                        "x $$(a b) `c d` e)f g)",
                        "'1'>x",
                        "a\\\nb  '' \"\"",
                    ]
                )
            ),
        },
    ),
    Case(
        "command-open-paren-refused",
        {"compose.yaml": "services:\n  app:\n    image: a\n    command: a(b\n"},
        refused=True,
    ),
    Case(
        "empty-resource-maps-omitted",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    volumes: ['data:/d']\n    networks: [front]\n"
            "volumes:\n  data: {labels: {}, driver_opts: {}}\n"
            "networks:\n  front: {labels: [], driver_opts: {}, ipam: {config: [], options: {}}}\n",
            "o.yaml": "volumes:\n  data: {labels: {}}\n",
        },
        args=["-f", "compose.yaml", "-f", "o.yaml"],
    ),
    # -- a later null keeps what came before (commands excepted) -------------
    Case(
        "override-null-keeps-used-volume",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    volumes: ['data:/d', 'logs:/l']\n"
            "volumes:\n  data: {driver: local}\n  logs:\n",
            "o.yaml": "volumes:\n  data: null\n  logs: null\n",
        },
        args=["-f", "compose.yaml", "-f", "o.yaml"],
    ),
    Case(
        "override-null-service-attributes",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    command: run\n    entrypoint: [sh]\n"
            "    environment: {A: '1'}\n    labels: {l: '1'}\n    deploy: {replicas: 2}\n"
            "    healthcheck: {test: 'true', interval: 5s}\n    networks: [front]\n    depends_on: [db]\n"
            "    ports: ['80:80']\n    ulimits: {nproc: 5}\n  db:\n    image: b\n"
            "networks:\n  front: {driver: bridge}\nx-meta: {k: 1}\n",
            "o.yaml": "services:\n  app:\n    image: null\n    command: null\n    entrypoint: null\n    environment: null\n"
            "    labels: null\n    deploy: {replicas: null}\n    healthcheck: null\n    networks: {front: null}\n"
            "    depends_on: {db: null}\n    ports: null\n    ulimits: null\n  db: null\n"
            "networks:\n  front: null\nx-meta: null\n",
        },
        args=["-f", "compose.yaml", "-f", "o.yaml"],
    ),
    Case(
        "override-null-ulimit-refused",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    ulimits: {nproc: 5}\n",
            "o.yaml": "services:\n  app:\n    ulimits: {nproc: null}\n",
        },
        args=["-f", "compose.yaml", "-f", "o.yaml"],
        refused=True,
    ),
    # -- environment ------------------------------------------------------------
    Case(
        "string-environment-merged-over-extends-base",
        {
            "compose.yaml": "services:\n  base:\n    image: a\n    environment: {T: '5'}\n"
            "  app:\n    extends: base\n    environment: 'A=1 B=${X:-2}'\n",
        },
    ),
    Case(
        "string-environment-merged-over-earlier-file",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    environment: {T: '5'}\n",
            "o.yaml": "services:\n  app:\n    environment: A=1\n",
        },
        args=["-f", "compose.yaml", "-f", "o.yaml"],
    ),
    Case(
        "string-environment-not-repaired-by-later-file",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    environment: A=1\n",
            "o.yaml": "services:\n  app:\n    environment: {T: '5'}\n",
        },
        args=["-f", "compose.yaml", "-f", "o.yaml"],
        refused=True,
    ),
    Case(
        "string-environment-without-base-refused",
        {
            "compose.yaml": "services:\n  base:\n    image: a\n  app:\n    extends: base\n    environment: A=1\n",
        },
        refused=True,
    ),
    Case(
        "env-file-templates-see-own-environment",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    environment: {A: v, B: '${U:-z}', E: ''}\n"
            "    env_file: [one.env, two.env]\n  other:\n    image: a\n    env_file: [two.env]\n",
            "one.env": "A=f1\nW1=${A}\nB\n",
            "two.env": "W2=${A}\nW3=${B}\nW4=${E-unset}\nW5=${C:-c}\n",
        },
        env={"C": "shell"},
    ),
    # -- references and consistency --------------------------------------------
    Case(
        "windows-drive-volume-spec",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    volumes: ['v:/v', 'c:\\\\x:/y:ro', 'ab']\n",
        },
    ),
    Case(
        "undefined-volume-refused",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    volumes: ['data:/d']\n",
        },
        refused=True,
    ),
    Case(
        "undefined-network-refused",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    networks: [back]\n",
        },
        refused=True,
    ),
    Case(
        "undefined-secret-refused",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    secrets: [{source: token}]\n",
        },
        refused=True,
    ),
    Case(
        "undefined-build-secret-refused",
        {
            "compose.yaml": "services:\n  app:\n    build: {context: ., secrets: [token]}\n",
        },
        refused=True,
    ),
    Case(
        "undefined-references-of-disabled-service",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n  tool:\n    image: a\n    profiles: [t]\n"
            "    volumes: ['data:/d']\n    networks: [back]\n    configs: [c]\n",
        },
    ),
    Case(
        "healthcheck-test-must-start-with-cmd",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    healthcheck: {test: [run, x]}\n",
        },
        refused=True,
    ),
    Case("healthcheck-empty-test", {"compose.yaml": "services:\n  app:\n    image: a\n    healthcheck: {test: []}\n"}),
    Case(
        "negative-replicas-refused",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    deploy: {replicas: '${R:--1}'}\n",
        },
        refused=True,
    ),
    Case("negative-scale-refused", {"compose.yaml": "services:\n  app:\n    image: a\n    scale: -1\n"}, refused=True),
    # -- top-level volumes ------------------------------------------------------
    Case(
        "external-volume-with-driver-refused",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    volumes: ['data:/d']\n"
            "volumes:\n  data: {driver: local}\n",
            "o.yaml": "volumes:\n  data: {external: true}\n",
        },
        args=["-f", "compose.yaml", "-f", "o.yaml"],
        refused=True,
    ),
    Case(
        "unused-external-volume-with-labels-refused",
        {
            "compose.yaml": "services:\n  app:\n    image: a\nvolumes:\n  data: {external: true, labels: {}}\n",
        },
        refused=True,
    ),
    Case(
        "external-network-with-driver-accepted",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    networks: [front]\n"
            "networks:\n  front: {driver: bridge, external: true}\n",
        },
    ),
    Case(
        "legacy-external-name",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    volumes: ['data:/d']\n    networks: [front]\n"
            "volumes:\n  data: {external: {name: shared}}\nnetworks:\n  front: {external: {name: edge}}\n",
        },
    ),
    Case(
        "volume-labels-repeated-in-two-files-refused",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    volumes: ['data:/d']\n"
            "volumes:\n  data: {labels: {tier: x}}\n",
            "o.yaml": "volumes:\n  data:\n    labels:\n      tier: x\n",
        },
        args=["-f", "compose.yaml", "-f", "o.yaml"],
        refused=True,
    ),
    Case(
        "volume-labels-changed-in-second-file",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    volumes: ['data:/d']\n"
            "volumes:\n  data: {labels: [a=b, c=d]}\n",
            "o.yaml": "volumes:\n  data:\n    labels: {a: c}\nnetworks:\n  n: {labels: {x: y}}\n",
            "p.yaml": "networks:\n  n: {labels: {x: y}}\n",
        },
        args=["-f", "compose.yaml", "-f", "o.yaml", "-f", "p.yaml"],
    ),
    # -- merge rules of compose-go (see test_merge_tables.py) ------------------
    Case(
        "merge-extra-hosts-ulimits-devices-ipam-models-platforms",
        {
            "a.yml": 'services:\n  s:\n    image: x\n    extra_hosts: ["a=1.1.1.1", "b=2.2.2.2"]\n    ulimits: {nofile: {soft: 1, hard: 2}}\n    devices: ["/dev/a:/dev/x", "/dev/b:/dev/y:rwm"]\n    build: {context: ., platforms: [linux/amd64], extra_hosts: ["h=1.1.1.1"]}\n    models: [m1]\nnetworks:\n  n:\n    ipam:\n      config: [{subnet: 10.1.0.0/16, gateway: 10.1.0.1}, {subnet: 10.2.0.0/16}]\n      options: {a: "1"}\nmodels:\n  m1: {model: ai/x}\n  m2: {model: ai/y}\n',
            "b.yml": 'services:\n  s:\n    extra_hosts: ["b=2.2.2.2", "c=3.3.3.3"]\n    ulimits: {nofile: {soft: 5, hard: 6}, nproc: 3}\n    devices: ["/dev/c:/dev/x"]\n    build: {platforms: [linux/amd64, linux/arm64], extra_hosts: ["h=1.1.1.1", "i=2.2.2.2"]}\n    models: {m2: {endpoint_var: E}}\n    networks: [n]\nnetworks:\n  n:\n    ipam:\n      config: [{subnet: 10.1.0.0/16, ip_range: 10.1.1.0/24}, {subnet: 10.3.0.0/16}]\n',
            "Dockerfile": "FROM scratch\n",
        },
        args=["-f", "a.yml", "-f", "b.yml"],
    ),
    Case(
        "extra-hosts-repeated-by-an-override",
        {
            "compose.yaml": "services:\n  s:\n    image: x\n    extra_hosts: {a: 1.1.1.1}\n",
            "o.yaml": "services:\n  s:\n    extra_hosts: ['a=1.1.1.1', 'b:2.2.2.2']\n",
        },
        args=["-f", "compose.yaml", "-f", "o.yaml"],
    ),
    Case(
        "include-project-directory-is-the-base-of-build-contexts",
        {
            "compose.yaml": "include:\n  - path: sub/inc.yaml\n    project_directory: sub/other\n"
            "services:\n  main: {image: x}\n",
            "sub/inc.yaml": "services:\n  inc: {build: ctx}\n  inc2: {build: {context: ./ctx, dockerfile: ../D}}\n"
            "  inc3: {image: x, volumes: ['./data:/d'], env_file: [e.env]}\n",
            "sub/other/ctx/Dockerfile": "FROM scratch\n",
            "sub/other/e.env": "A=1\n",
            "sub/e.env": "A=2\n",
        },
    ),
    # -- fields the policy does not read ----------------------------------------
    Case(
        "named-volume-selinux-and-propagation",
        {
            "compose.yaml": "services:\n  db:\n    image: postgres\n    volumes:\n"
            "      - postgres_data:/var/lib/postgresql/data:Z\n      - other:/o:z,rshared,ro\n"
            "      - ./x:/x:Z\nvolumes: {postgres_data: {}, other: {}}\n",
        },
    ),
    Case(
        "implicit-depends-on-for-shared-namespaces-links-volumes-from",
        {
            "compose.yaml": "services:\n  a: {image: x, links: ['b:bb', c]}\n  b: {image: x}\n  c: {image: x}\n"
            "  d: {image: x, network_mode: 'service:b', ipc: 'service:c', pid: 'service:a',\n"
            "      volumes_from: ['a:ro', 'container:zz'], depends_on: {b: {condition: service_healthy}}}\n",
        },
    ),
    Case(
        "implicit-dependency-on-a-service-disabled-by-profiles",
        {
            "compose.yaml": "services:\n  a: {image: x, network_mode: 'service:b'}\n  b: {image: x, profiles: [p]}\n",
        },
        refused=True,
    ),
    Case(
        "implicit-dependency-enabled-by-its-profile",
        {
            "compose.yaml": "services:\n  a: {image: x, volumes_from: [b]}\n  b: {image: x, profiles: [p]}\n",
        },
        args=["--profile", "p"],
    ),
    Case(
        "file-modes-tmpfs-sizes-sorted-hosts",
        {
            "compose.yaml": "services:\n  s:\n    image: x\n    secrets: [{source: t, mode: 0440}]\n"
            "    configs: [{source: t2, mode: 0o600}]\n"
            "    volumes: [{type: tmpfs, target: /t, tmpfs: {size: 1m, mode: 01777}}]\n"
            "    extra_hosts: ['z=1.1.1.1', 'a=2.2.2.2']\n"
            "secrets: {t: {file: ./f}}\nconfigs: {t2: {file: ./f}}\n",
            "f": "x\n",
        },
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_against_compose(case: Case, tmp_path: Path) -> None:
    project, error, reference = run_case(case, tmp_path)
    ours = project.config if project is not None else None
    assert case.refused == (not reference.ok), f"compose: {reference.error or 'accepted'}"
    if case.refused:
        assert error is not None, f"compose refused ({reference.error}) but we accepted: {json.dumps(ours)[:500]}"
        assert error.message
        return
    assert error is None, f"we refused ({error}) but compose accepted"
    expected = _select(_unescape(reference.config))
    assert _select(ours) == expected
    # compose logs a warning at each use of the variable (in an order that varies between runs)
    assert sorted(w.removeprefix("WARN[0000] ") for w in project.warnings) == sorted(reference.warnings)
