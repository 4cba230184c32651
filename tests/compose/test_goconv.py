"""Go's number and duration formats, as compose prints them."""

from __future__ import annotations

import pytest

from supervisor.compose.goconv import GoConvError, atoi, format_duration, format_float, parse_bytes, parse_duration


@pytest.mark.parametrize(
    "value,text",
    [
        (1.0, "1"),
        (1.5, "1.5"),
        (0.1, "0.1"),
        (1e20, "100000000000000000000"),
        (1e21, "1e+21"),
        (1.25e-5, "1.25e-05"),
        (-2.5, "-2.5"),
    ],
)
def test_format_float(value, text):
    assert format_float(value) == text


@pytest.mark.parametrize(
    "text,printed",
    [
        ("1m30s", "1m30s"),
        ("90s", "1m30s"),
        ("1m", "1m0s"),
        ("0s", "0s"),
        ("1.5h", "1h30m0s"),
        ("100ms", "100ms"),
        ("1us", "1µs"),
    ],
)
def test_durations(text, printed):
    assert format_duration(parse_duration(text)) == printed


def test_invalid_duration():
    with pytest.raises(GoConvError):
        parse_duration("ten")


@pytest.mark.parametrize("text,value", [("512M", 536870912), ("1g", 1073741824), ("100", 100), ("1kb", 1024)])
def test_bytes(text, value):
    assert parse_bytes(text) == value


def test_atoi_message_is_go_s():
    with pytest.raises(GoConvError) as info:
        atoi("x")
    assert str(info.value) == 'strconv.Atoi: parsing "x": invalid syntax'
