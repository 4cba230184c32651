"""The merge and unicity tables, held against the compose-go release inside the oracle binary.

compose-go's ``override/merge.go`` (``mergeSpecials``) and ``override/uncity.go`` (``unique``)
decide how files merge.  The expected tables below are those of the version the binary was built
with (read from its Go build information); a newer oracle fails the first test until the tables
are read again from that version.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from supervisor.compose import merge as M
from supervisor.compose.confighash import COMPOSE_GO_VERSION

from .oracle import compose_binary

pytestmark = pytest.mark.differential

# compose-go v2.9.1, override/merge.go: path -> rule
MERGE_SPECIALS = {
    "networks.*.ipam.config": "ipam_config",
    "networks.*.labels": "to_sequence",
    "volumes.*.labels": "to_sequence",
    "services.*.annotations": "to_sequence",
    "services.*.build": "build",
    "services.*.build.args": "to_sequence",
    "services.*.build.additional_contexts": "to_sequence",
    "services.*.build.extra_hosts": "extra_hosts",
    "services.*.build.labels": "to_sequence",
    "services.*.command": "override",
    "services.*.depends_on": "depends_on",
    "services.*.deploy.labels": "to_sequence",
    "services.*.dns": "to_sequence",
    "services.*.dns_opt": "to_sequence",
    "services.*.dns_search": "to_sequence",
    "services.*.entrypoint": "override",
    "services.*.env_file": "to_sequence",
    "services.*.label_file": "to_sequence",
    "services.*.environment": "to_sequence",
    "services.*.extra_hosts": "extra_hosts",
    "services.*.healthcheck.test": "override",
    "services.*.labels": "to_sequence",
    "services.*.volumes.*.volume.labels": "to_sequence",
    "services.*.logging": "logging",
    "services.*.models": "models",
    "services.*.networks": "networks",
    "services.*.sysctls": "to_sequence",
    "services.*.tmpfs": "to_sequence",
    "services.*.ulimits.*": "ulimit",
}

# compose-go v2.9.1, override/uncity.go: path -> indexer ("build.platform" is compose-go's own
# spelling, so build.platforms keeps its repeats; devices is indexed by target)
UNIQUE = {
    "networks.*.labels": "key_value",
    "networks.*.ipam.options": "key_value",
    "services.*.annotations": "key_value",
    "services.*.build.args": "key_value",
    "services.*.build.additional_contexts": "key_value",
    "services.*.build.platform": "key_value",
    "services.*.build.tags": "key_value",
    "services.*.build.labels": "key_value",
    "services.*.cap_add": "key_value",
    "services.*.cap_drop": "key_value",
    "services.*.devices": "device",
    "services.*.configs": "mount",
    "services.*.deploy.labels": "key_value",
    "services.*.dns": "key_value",
    "services.*.dns_opt": "key_value",
    "services.*.dns_search": "key_value",
    "services.*.environment": "key_value",
    "services.*.env_file": "env_file",
    "services.*.expose": "plain",
    "services.*.labels": "key_value",
    "services.*.links": "key_value",
    "services.*.networks.*.aliases": "key_value",
    "services.*.networks.*.link_local_ips": "key_value",
    "services.*.ports": "port",
    "services.*.profiles": "key_value",
    "services.*.secrets": "mount",
    "services.*.sysctls": "key_value",
    "services.*.tmpfs": "key_value",
    "services.*.volumes": "volume",
}


def _rule(function) -> str:
    name = function.__qualname__.split(".")[0]
    return re.sub(r"^_(merge_)?|_key$", "", name)


def test_the_oracle_is_built_with_the_compose_go_these_tables_come_from() -> None:
    build_info = Path(compose_binary()).read_bytes()
    found = re.search(rb"github\.com/compose-spec/compose-go/v2\tv([0-9.]+)", build_info)
    assert found, "no compose-go module in the oracle's build information"
    assert found.group(1).decode() == COMPOSE_GO_VERSION == "2.9.1"


def test_merge_rules_equal_compose_go() -> None:
    ours = {".".join(pattern): _rule(merger) for pattern, merger in M._SPECIALS}
    assert ours == MERGE_SPECIALS


def test_unicity_rules_equal_compose_go() -> None:
    ours = {".".join(pattern): _rule(indexer) for pattern, indexer in M._UNIQUE}
    assert ours == UNIQUE
