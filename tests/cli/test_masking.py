"""Secret masking rules: names, URL passwords (also unencoded), conninfo, values taken from secrets."""

from __future__ import annotations

import pytest

from supervisor.compose.model import EnvValue, Location, Origin, Project, Service, Substitution
from supervisor.secrets import MASK, is_secret_name, mask_text, mask_value, redact, secret_values


@pytest.mark.parametrize(
    "text,expected",
    [
        ("postgres://u:pw@h/db", "postgres://u:****@h/db"),
        ("postgres://u:p@ss@h/db", "postgres://u:****@h/db"),  # an unencoded "@" in the password
        ("postgres://u:pa/ss@h/db", "postgres://u:****@h/db"),  # an unencoded "/"
        ("postgres://u:pa#ss@h:5432/db?x=1", "postgres://u:****@h:5432/db?x=1"),
        ("a postgres://u:pw@h/db b redis://:pw2@r:6379", "a postgres://u:****@h/db b redis://:****@r:6379"),
        ('["postgres://u:p@ss@h/db","x@y"]', '["postgres://u:****@h/db","x@y"]'),
        ("postgres://u:@h/db", "postgres://u:@h/db"),  # no password
        ("http://host:8080/p?e=a@b", "http://host:8080/p?e=a@b"),  # port and path: no userinfo
        (
            "ws://127.0.0.1:2470/xrpc/com.atproto.sync.subscribeRepos",
            "ws://127.0.0.1:2470/xrpc/com.atproto.sync.subscribeRepos",
        ),
        ("host=db user=u password=pw dbname=x", "host=db user=u password=**** dbname=x"),
        ("host=db password='a b' dbname=x", "host=db password=**** dbname=x"),
        ("POSTGRES_PASSWORD=****", "POSTGRES_PASSWORD=****"),
    ],
)
def test_mask_text(text, expected):
    assert mask_text(text) == expected


@pytest.mark.parametrize(
    "name,secret",
    [
        ("POSTGRES_PASSWORD", True),
        ("API_KEY", True),
        ("JWT_SECRET", True),
        ("GITHUB_TOKEN", True),
        ("DB_PASS", True),
        ("PASS", True),
        ("SSH_PASSPHRASE", True),
        ("OPENAI_APIKEY", True),
        ("BACKFILL_DAYS", False),
        ("PASSTHROUGH", False),
        ("BYPASS_CACHE", False),
        ("KEYBOARD", False),
    ],
)
def test_secret_names(name, secret):
    assert is_secret_name(name) is secret


def _project(records: list[EnvValue]) -> Project:
    service = Service(
        "app",
        {"environment": {r.name: r.value for r in records}},
        {r.name: r for r in records},
        Location("/p/compose.yaml", 1, 1),
        {},
    )
    return Project("p", "/p", ["/p/compose.yaml"], {"services": {"app": service.config}}, {"app": service}, {}, {})


def _templated(name: str, value: str, variable: str, used_default: bool = False) -> EnvValue:
    return EnvValue(
        name,
        value,
        Origin("environment", Location("/p/compose.yaml", 3, 7)),
        raw=f"${{{variable}}}",
        substitutions=[Substitution(variable, value, Origin("shell"), used_default)],
    )


def test_values_taken_from_secret_variables_are_secret():
    project = _project(
        [
            _templated("pm_id", "hunter2", "POSTGRES_PASSWORD"),
            _templated("BACKFILL_DAYS", "3", "BACKFILL_DAYS"),
            _templated("WORKER_ID", "0", "ADMIN_TOKEN", used_default=True),  # the default is not the secret
        ]
    )
    assert secret_values(project) == frozenset({"hunter2"})


def test_redact_masks_whole_values_and_long_secrets_inside_text():
    secrets = frozenset({"hunter2pw", "0"})
    assert redact("0", secrets) == MASK
    assert redact("worker_id -> 0 (default 0)", secrets) == "worker_id -> 0 (default 0)"  # too short to replace
    assert redact("pm_id=hunter2pw at x", secrets) == f"pm_id={MASK} at x"
    data = {"value": "hunter2pw", "n": 0, "list": ["a hunter2pw b"], "flag": True}
    assert redact(data, secrets) == {"value": MASK, "n": 0, "list": [f"a {MASK} b"], "flag": True}


def test_mask_value_combines_name_url_and_known_secrets():
    assert mask_value("API_KEY", "abc") == MASK
    assert mask_value("API_KEY", "") == ""
    assert mask_value("URL", "postgres://u:pw@h/db") == "postgres://u:****@h/db"
    assert mask_value("pm_id", "hunter2pw", frozenset({"hunter2pw"})) == MASK
    assert mask_value("X", None) is None
