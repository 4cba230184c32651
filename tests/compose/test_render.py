"""The fast YAML emitter against PyYAML's emitter under the same rules, and yaml.v3's key order.

PyYAML's emitter (a port of libyaml's, as yaml.v3's is), with yaml.v3's resolver, is the reference here; the whole-output
comparison with compose itself is in ``test_yaml_output_shapes.py`` and ``test_cli_yaml.py``.
"""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from supervisor.compose import render
from supervisor.compose.render import compose_yaml, emit, go_key_less

# characters that decide a scalar's style: indicators, spaces, breaks, quotes, escapes, unicode
_ALPHABET = st.sampled_from(list("aZ09 _-:#,[]{}&*!|>'\"%@`?.\\\t\n\r\x00\x07\x1b\x85\xa0\u2028\ufeff\U0001f600é/=~+"))
_TEXT = st.text(_ALPHABET, max_size=12) | st.sampled_from(
    [
        "",
        "Y",
        "n",
        "yes",
        "No",
        "off",
        "null",
        "~",
        "1",
        "0x1f",
        "1.5",
        "1e3",
        ".inf",
        "1:20",
        "---",
        "...",
        "- a",
        "a: b",
        "a #b",
        "#a",
        " a",
        "a ",
        "a\n",
        "a\n\n",
        "\na",
        "a\nb",
        "a \nb",
        "a\n b",
        "true\n",
        "=",
        "<<",
        "08",
        "0o17",
        "2001-1-2",
        "1_000",
        "+.5",
        "12:30:00",
    ]
)
_SCALAR = _TEXT | st.none() | st.booleans() | st.integers(-(10**6), 10**6) | st.floats(allow_nan=False, width=32)
# PyYAML writes an empty key as "? ''"; libyaml and compose as ``"":`` (held in test_yaml_output_shapes)
_KEY = st.text(st.sampled_from(list("ab9_.-: #'\"Y")), min_size=1, max_size=6)
_NODE = st.recursive(
    _SCALAR, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_KEY, inner, max_size=3), max_leaves=12
)


def _pyyaml(document: dict[str, Any]) -> str:
    return yaml.dump(
        document,
        Dumper=render._PyYAMLDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=2**62,
    )


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(_KEY, _NODE, min_size=1, max_size=4))
def test_fast_emitter_writes_what_pyyaml_writes(document: dict[str, Any]) -> None:
    assert emit(document) == _pyyaml(document)


def test_large_values_render_the_same() -> None:
    big = "x" * 300_000
    for value in (big, big + " #", "'" + big, big + "\n" + big, big + "\t"):
        document = {"services": {"app": {"environment": {"V": value}}}}
        assert compose_yaml(document) == _pyyaml(document)


def test_yaml_v3_key_order() -> None:
    # the order compose 2.40 prints these label keys in
    keys = [
        "a10",
        "a9",
        "b",
        "A",
        "a",
        "a09",
        "a_1",
        "1",
        "10",
        "9",
        "r.10.x",
        "r.9.x",
        "a00",
        "a0",
        "é",
        "Z",
        "_",
        "a-",
    ]
    assert sorted(keys, key=render._KEY) == [
        "_",
        "1",
        "9",
        "10",
        "A",
        "Z",
        "a",
        "a-",
        "a_1",
        "a0",
        "a00",
        "a9",
        "a09",
        "a10",
        "b",
        "r.9.x",
        "r.10.x",
        "é",
    ]
    assert go_key_less("web9", "web10") and not go_key_less("web10", "web9")


def test_struct_fields_in_declared_order_and_empty_structs_left_out() -> None:
    document = {
        "name": "p",
        "services": {
            "s": {
                "image": "a",
                "environment": {"A": "1"},
                "env_file": ["x"],
                "deploy": {"resources": {}, "placement": {}, "mode": "m"},
                "x-b": 1,
                "build": {"target": "t", "context": "."},
            }
        },
    }
    text = compose_yaml(document)
    assert text == (
        "name: p\nservices:\n  s:\n    build:\n      context: .\n      target: t\n"
        '    deploy:\n      mode: m\n    environment:\n      A: "1"\n    env_file:\n      - x\n'
        "    image: a\n    x-b: 1\n"
    )
