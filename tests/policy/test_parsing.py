"""Each implementation's number parsing, reproduced exactly: one table per language."""

import pytest

from supervisor.policy.parsing import NaN, ParseFailure, is_nan, js_parse_int, js_truthy, python_int

# (text, int() result or None when Python raises)
PYTHON_INT = [
    ("0", 0),
    ("7", 7),
    ("-1", -1),
    ("+5", 5),
    (" 7 ", 7),
    ("\t7\n", 7),
    ("\u00a07\u2003", 7),
    ("1_000", 1000),
    ("1_0_0", 100),
    ("_1", None),
    ("1_", None),
    ("1__0", None),
    ("", None),
    ("   ", None),
    ("7d", None),
    ("0x10", None),
    ("1.5", None),
    ("1e3", None),
    ("٣", 3),
    ("७", 7),
    ("１２", 12),
    ("- 1", None),
    ("--1", None),
    ("007", 7),
    ("-0", 0),
]

# (text, parseInt() result; NaN for NaN)
JS_PARSE_INT = [
    ("0", 0),
    ("7", 7),
    ("-1", -1),
    ("+5", 5),
    (" 7", 7),
    ("\t\n 7", 7),
    ("\u00a0\ufeff7", 7),
    ("7 ", 7),
    ("7d", 7),
    ("0x10", 16),
    ("0X1f", 31),
    ("-0x10", -16),
    ("0x", NaN),
    ("0xg", NaN),
    ("", NaN),
    ("   ", NaN),
    ("d7", NaN),
    ("1_000", 1),
    ("_1", NaN),
    ("1__0", 1),
    ("1.9", 1),
    ("1e3", 1),
    ("٣", NaN),
    ("１２", NaN),
    ("- 1", NaN),
    ("--1", NaN),
    ("007", 7),
    ("00", 0),
    (None, NaN),
    ("Infinity", NaN),
    ("12abc34", 12),
]


@pytest.mark.parametrize("text,expected", PYTHON_INT)
def test_python_int(text, expected):
    if expected is None:
        with pytest.raises(ParseFailure) as info:
            python_int(text)
        assert info.value.text == text and "int() rejects it" in info.value.reason
    else:
        assert python_int(text) == expected


@pytest.mark.parametrize("text,expected", JS_PARSE_INT)
def test_js_parse_int(text, expected):
    result = js_parse_int(text)
    if expected is NaN:
        assert is_nan(result)
    else:
        assert result == expected and isinstance(result, int)


def test_nan_compares_like_javascript():
    assert not (NaN > 0) and not (NaN < 0) and not (NaN == 0) and NaN != 0 and not NaN
    assert not (NaN == NaN)
    assert repr(NaN) == "NaN"


@pytest.mark.parametrize(
    "value,truthy",
    [
        (None, False),
        ("", False),
        ("0", True),
        ("false", True),
        (" ", True),
        (0, False),
        (1, True),
        (NaN, False),
    ],
)
def test_js_truthy(value, truthy):
    assert js_truthy(value) is truthy


def test_js_parse_int_of_thousands_of_digits_is_infinity_not_an_error():
    # parseInt("9".repeat(5000)) is Infinity in JavaScript; Python's int() would refuse the conversion
    assert js_parse_int("9" * 5000) == float("inf")
    assert js_parse_int("-" + "9" * 5000) == float("-inf")
    assert js_parse_int("0" * 5000 + "7") == 7
    assert js_parse_int("0x" + "f" * 300) == float("inf")
    assert js_parse_int("9" * 300) == int("9" * 300)


def test_python_int_of_thousands_of_digits_fails_as_python_does():
    # Python 3.11 refuses str -> int conversions above 4,300 digits: the original worker crashes
    with pytest.raises(ParseFailure):
        python_int("9" * 5000)
