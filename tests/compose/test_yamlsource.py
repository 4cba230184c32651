"""YAML as compose reads it: YAML 1.2 scalars, positions, duplicate keys, tags, bounds."""

from __future__ import annotations

import math

import pytest

from supervisor.compose.model import ComposeError
from supervisor.compose.yamlsource import MAX_DEPTH, MAX_NODES, OVERRIDE, RESET, parse_documents, resolve_plain

# go-yaml v3 resolution of plain scalars (checked with `docker compose config`).
SCALARS = [
    ("yes", "yes"),
    ("on", "on"),
    ("true", True),
    ("False", False),
    ("~", None),
    ("null", None),
    ("0x1F", 31),
    ("0o17", 15),
    ("0777", 511),
    ("1_000", 1000),
    ("1.50", 1.5),
    ("1e3", 1000.0),
    ("08", 8.0),
    ("+1", 1),
    ("80:80", "80:80"),
    ("1.2.3", "1.2.3"),
    (".5", 0.5),
    ("-.inf", -math.inf),
]


@pytest.mark.parametrize("text,expected", SCALARS)
def test_plain_scalars(text, expected):
    value = resolve_plain(text)
    assert value == expected and type(value) is type(expected)


def test_quoted_scalars_stay_strings():
    doc = parse_documents("a: '1'\nb: \"true\"\nc: !!str 2\n", "f.yml")[0]
    assert doc == {"a": "1", "b": "true", "c": "2"}


def test_positions_of_keys_and_items():
    doc = parse_documents("services:\n  web:\n    image: a\n    ports:\n      - 80\n", "f.yml")[0]
    web = doc["services"]["web"]
    assert str(web.keylocs["image"]) == "f.yml:3:5"
    assert str(web["ports"].locs[0]) == "f.yml:5:9"


def test_duplicate_key_is_an_error_at_the_second_key():
    with pytest.raises(ComposeError) as info:
        parse_documents("a: 1\nb: 2\na: 3\n", "f.yml")
    assert str(info.value) == 'f.yml:3:1: mapping key "a" already defined at line 1'


def test_merge_keys_explicit_keys_win():
    doc = parse_documents("x: &x {a: 1, b: 2}\ny:\n  <<: *x\n  b: 3\n", "f.yml")[0]
    assert doc["y"] == {"a": 1, "b": 3}


def test_reset_and_override_tags_are_recorded():
    doc = parse_documents("a: !reset []\nb: !override {c: 1}\n", "f.yml")[0]
    assert doc.tags == {"a": RESET, "b": OVERRIDE}
    assert doc["b"] == {"c": 1}


def test_alias_bomb_is_refused():
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]")
    with pytest.raises(ComposeError) as info:
        parse_documents("\n".join(lines) + "\n", "bomb.yml")
    assert f"{MAX_NODES:,}" in info.value.message


def test_recursive_alias_is_refused():
    with pytest.raises(ComposeError):
        parse_documents("a: &a\n  b: *a\n", "f.yml")


def test_oversized_text_is_refused():
    with pytest.raises(ComposeError) as info:
        parse_documents("#" * (10 * 1024 * 1024 + 1), "big.yml")
    assert "10 MiB" in info.value.message


def test_syntax_error_has_position():
    with pytest.raises(ComposeError) as info:
        parse_documents("services:\n  web:\n    image: [a\n", "f.yml")
    assert info.value.location.line == 4
    assert "did not find expected" in info.value.message


def test_timestamps_are_refused_like_compose():
    with pytest.raises(ComposeError) as info:
        parse_documents("services:\n  web:\n    environment:\n      E: 2020-01-01\n", "f.yml")
    assert "services.web.environment.E invalid jsonType time.Time" in info.value.message


@pytest.mark.parametrize(
    "value, message",
    [
        ("!!timestamp 2020-01-01", "services.web.labels.a invalid jsonType time.Time"),
        ("!!timestamp '2020-01-01 10:00:00'", "services.web.labels.a invalid jsonType time.Time"),
        ("!!timestamp 2020-13-01", "cannot decode !!str `2020-13-01` as a !!timestamp"),
        ("!!timestamp foo", "cannot decode !!str `foo` as a !!timestamp"),
        ("!!timestamp ''", "cannot decode !!null `` as a !!timestamp"),
    ],
)
def test_explicit_timestamps_are_refused_like_compose(value, message):
    with pytest.raises(ComposeError) as info:
        parse_documents(f"services:\n  web:\n    labels:\n      a: {value}\n", "f.yml")
    assert message in info.value.message
    location = info.value.location
    assert location is not None and str(location) == "f.yml:4:10"


def test_timestamps_are_times_in_extension_fields_and_bad_dates_stay_strings():
    doc = parse_documents("x-a: !!timestamp 2020-1-2\nx-b: 2020-01-02 10:00:00\nx-c: 2020-13-01\n", "f.yml")[0]
    assert (doc["x-a"], doc["x-b"], doc["x-c"]) == ("2020-01-02T00:00:00Z", "2020-01-02T10:00:00Z", "2020-13-01")
    web = parse_documents("services:\n  web:\n    labels: {a: 2020-13-01}\n", "f.yml")[0]["services"]["web"]
    assert web["labels"] == {"a": "2020-13-01"}


@pytest.mark.parametrize("opening, closing", [("[", "]"), ("{a: ", "}"), ("- ", "")])
def test_nesting_past_the_parsers_depth_limit_is_refused_plainly(opening, closing):
    def nested(depth: int) -> str:
        inner = "1" if opening != "[" else ""
        return "x-deep:\n  " + opening * depth + inner + closing * depth + "\n"

    doc = parse_documents(nested(MAX_DEPTH - 2), "f.yml")[0]  # the document's own mapping is a level
    assert doc["x-deep"] is not None
    with pytest.raises(ComposeError) as info:
        parse_documents(nested(MAX_DEPTH), "f.yml")
    assert f"nested more than {MAX_DEPTH:,} levels deep" in info.value.message
    assert "maximum nesting depth of 1,000" in info.value.message
    location = info.value.location
    assert location is not None and location.line == 2 and location.column > MAX_DEPTH
