"""Whole-document agreement with Docker Compose v2 on shapes common in published compose files.

Where ``test_loader_differential`` compares the fields the policy layer reads,
these cases compare the *entire* ``config --format json`` document (every
service attribute, top-level ``secrets``/``configs``), because real-world
files lean on attributes such as ``platform``, ``hostname``, ``devices`` and
short ``secrets`` that are easy to print slightly differently.  The warnings
must agree too, line for line (compose logs one per use of an unset variable).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from supervisor.compose.loader import load_project

from .oracle import compose_config
from .test_loader_differential import Case, _options, _unescape, write_files

pytestmark = pytest.mark.differential

CASES = [
    Case(
        "empty-strings-and-false-omitted",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    platform: ${PLATFORM:-}\n    hostname: ''\n"
            "    user: ''\n    read_only: false\n    privileged: false\n    tty: false\n    init: false\n"
            "    healthcheck: {disable: false}\n    logging: {}\n    deploy: {}\n"
            "    build: {context: ., dockerfile: '', no_cache: false}\n"
            "    volumes: [{type: volume, source: v, target: /v, volume: {nocopy: false}}]\n"
            "volumes:\n  v: {external: false, name: ''}\n"
            "networks:\n  default: {internal: false, attachable: false, name: ''}\n",
        },
    ),
    Case(
        "mount-paths",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    volumes:\n      - /srv/app/:/srv/app/\n"
            "      - ./data/:/data/:ro,z\n      - {type: bind, source: ./conf/, target: /etc/conf/, "
            "read_only: true}\n      - named:/named/\nvolumes:\n  named:\n",
        },
    ),
    Case(
        "secrets-configs-devices",
        {
            "compose.yaml": "services:\n  app:\n    image: a\n    secrets: [token, {source: key, target: k}]\n"
            "    configs: [conf]\n    devices: ['/dev/dri:/dev/dri', '/dev/snd:/dev/audio:rw']\n"
            "secrets:\n  token: {file: ./secrets/token.txt}\n  key: {environment: KEY}\n"
            "  outside: {external: true}\nconfigs:\n  conf: {file: ./c.ini}\n",
        },
        env={"KEY": "k"},
    ),
    Case(
        "anchor-merge-build-args",
        {
            "compose.yaml": "x-base: &base\n  build:\n    context: ./app\n    args: [VERSION, UNSET_ARG]\n"
            "  restart: unless-stopped\nservices:\n  web:\n    <<: *base\n    command: web\n"
            "  worker:\n    <<: *base\n    command: worker\n    platform: ${DOCKER_PLATFORM:-}\n",
            ".env": "VERSION=1.2\n",
        },
    ),
    Case(
        "warnings-per-use",
        {
            "compose.yaml": "x-common: &common\n  image: app:${TAG}\nservices:\n  one:\n    <<: *common\n"
            "  two:\n    <<: *common\n    command: echo ${TAG} ${TAG}\n",
        },
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_whole_document_matches_compose(case: Case, tmp_path: Path) -> None:
    root = tmp_path / "proj"
    root.mkdir()
    write_files(root, case.files)
    reference = compose_config(str(root), case.env, args=case.args)
    assert reference.ok, reference.error
    project = load_project(_options(case.args, case.env, root))
    assert project.config == _unescape(reference.config)
    assert sorted(w.removeprefix("WARN[0000] ") for w in project.warnings) == sorted(reference.warnings)
