"""DAG-CBOR as the atproto data model uses it, on top of cbor2's C codec.

Decoding is strict: exactly one object, string map keys only, no duplicate keys, no floats,
no ``undefined`` or other simple values, no tags other than 42 (CID links), no
indefinite lengths, integers within signed 64 bits, and bounded size and nesting depth; and the
input must be canonical: map keys in DAG-CBOR order and every integer, length and tag in its
shortest form.  That is checked without re-encoding: the walk that checks the decoded values
adds up the size of their canonical encoding and compares it with the bytes read (a longer form
is the only way left to spell the same values differently), and checks each map's key order.
Encoding is canonical: map keys sorted by length then bytes, shortest integer forms,
definite lengths, CIDs as tag 42 over ``0x00 + CID bytes``.
"""

from __future__ import annotations

import io
import threading
from dataclasses import dataclass
from typing import Any, Callable

import cbor2

from supervisor.atproto.cid import CID, link_problem
from supervisor.atproto.errors import DecodeError, EncodeError

__all__ = ["Limits", "DEFAULT_LIMITS", "encode", "decode", "decode_first", "decode_multi", "check_value"]

_INT_MIN = -(1 << 63)
_INT_MAX = (1 << 63) - 1


@dataclass(frozen=True)
class Limits:
    """Bounds applied while decoding untrusted input."""

    max_size: int = 8 * 1024 * 1024  #: largest input in bytes
    max_depth: int = 128  #: deepest nesting of maps and arrays


DEFAULT_LIMITS = Limits()


class _Reject(DecodeError):
    """Raised inside cbor2 callbacks; unwrapped into a DecodeError with an offset."""


def _tag_hook(tag: Any, immutable: bool) -> CID:
    value = tag.value
    # Fast path: tag 42 over 0x00 + CIDv1, dag-cbor or raw, sha2-256 (37 bytes).
    if (
        tag.tag == 42
        and type(value) is bytes
        and len(value) == 37
        and value[0] == 0
        and value[1] == 1
        and (value[2] == 0x71 or value[2] == 0x55)
        and value[3] == 0x12
        and value[4] == 0x20
    ):
        return _new_cid(CID, value[1:])
    if tag.tag != 42:
        raise _Reject(f"CBOR tag {tag.tag} is not allowed (only 42, CID links)")
    if type(value) is not bytes:
        raise _Reject("tag 42 must wrap a byte string")
    if len(value) < 2 or value[0] != 0:
        raise _Reject("tag 42 byte string must start with the 0x00 multibase prefix")
    try:
        cid, end = CID.read(value, 1)
    except DecodeError as exc:
        raise _Reject(f"invalid CID link: {exc.reason}") from None
    if end != len(value):
        raise _Reject("invalid CID link: trailing bytes")
    problem = link_problem(cid)
    if problem:
        raise _Reject(f"invalid CID link: {problem}")
    return cid


_new_cid = bytes.__new__


def _reject_builtin_tag(tag: int) -> Callable[[Any, bool], Any]:
    def reject(value: Any, immutable: bool) -> Any:
        raise _Reject(f"CBOR tag {tag} is not allowed (only 42, CID links)")

    return reject


# cbor2 decodes these tags itself (datetimes, bignums, sets, regexps...); the data model
# allows none of them, so each one is overridden to fail.
_BUILTIN_TAGS = (0, 1, 2, 3, 4, 5, 25, 28, 29, 30, 35, 36, 37, 52, 54, 100, 256, 258, 260, 261, 1004, 43000, 55799)
_SEMANTIC = {tag: _reject_builtin_tag(tag) for tag in _BUILTIN_TAGS}


def _invalid_value(value: Any) -> str:
    kind = type(value)
    if kind is float:
        return f"floating-point number {value!r} is not allowed"
    if value is cbor2.undefined:
        return "'undefined' is not allowed"
    if kind is cbor2.CBORSimpleValue:
        return f"simple value {value.value} is not allowed"
    if kind is int:
        return f"integer {value} is outside the signed 64-bit range"
    return f"value of type {kind.__name__} is not allowed"


def _check(value: Any) -> None:
    """Walk a decoded tree; raise _Reject for anything outside the data model."""
    kind = type(value)
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise _Reject(f"map key {key!r} is not a string")
            kind = type(item)
            if kind is str or kind is bool or kind is bytes or item is None or kind is CID:
                continue
            if kind is int:
                if _INT_MIN <= item <= _INT_MAX:
                    continue
                raise _Reject(_invalid_value(item))
            _check(item)
    elif kind is list:
        for item in value:
            kind = type(item)
            if kind is str or kind is bool or kind is bytes or item is None or kind is CID:
                continue
            if kind is int:
                if _INT_MIN <= item <= _INT_MAX:
                    continue
                raise _Reject(_invalid_value(item))
            _check(item)
    elif kind is int:
        if not _INT_MIN <= value <= _INT_MAX:
            raise _Reject(_invalid_value(value))
    elif not (kind is str or kind is bool or kind is bytes or value is None or kind is CID):
        raise _Reject(_invalid_value(value))


def _head(n: int) -> int:
    """Bytes of the shortest CBOR head carrying argument ``n``."""
    return 1 if n < 24 else 2 if n < 0x100 else 3 if n < 0x10000 else 5 if n < 0x100000000 else 9


# Map key tuples already checked (in canonical order) -> the encoded size of those keys.
# Records of one type share their keys, so a map's keys are usually checked by one lookup.
_KEY_SIZES: dict[tuple[Any, ...], int] = {}


def _keys_size(keys: tuple[Any, ...]) -> int:
    """The canonical encoded size of a map's keys; _Reject unless they are strings in DAG-CBOR
    order (shorter first, then bytewise)."""
    total = 0
    last: tuple[int, bytes] | None = None
    last_key = ""
    for key in keys:
        if type(key) is not str:
            raise _Reject(f"map key {key!r} is not a string")
        raw = key.encode("utf-8")
        order = (len(raw), raw)
        if last is not None and order <= last:
            raise _Reject(f"map keys are not in canonical order (length, then bytes): {key!r} after {last_key!r}")
        last, last_key = order, key
        total += _head(len(raw)) + len(raw)
    if len(keys) <= 64 and total <= 2048:
        if len(_KEY_SIZES) >= 4096:
            _KEY_SIZES.clear()
        _KEY_SIZES[keys] = total
    return total


def _size(value: Any) -> int:
    """Walk a decoded tree: raise _Reject for anything outside the data model or a map whose keys
    are out of order; return the size of the tree's canonical encoding."""
    # Written for speed (it runs over every frame and record): the common cases first, the head
    # sizes inline.
    kind = type(value)
    if kind is dict:
        keys = tuple(value)
        size = _KEY_SIZES.get(keys)
        if size is None:
            size = _keys_size(keys)
        count = len(keys)
        size += 1 if count < 24 else _head(count)
        items: Any = value.values()
    elif kind is list:
        count = len(value)
        size = 1 if count < 24 else _head(count)
        items = value
    else:
        return _size([value]) - 1
    for item in items:
        kind = type(item)
        if kind is str:
            length = len(item) if item.isascii() else len(item.encode("utf-8"))
            size += length + (
                1
                if length < 24
                else 2
                if length < 0x100
                else 3
                if length < 0x10000
                else 5
                if length < 0x100000000
                else 9
            )
        elif kind is CID:
            # tag 42 (2 bytes) over a byte string of 0x00 + the CID: 41 bytes for the usual 36
            length = len(item) + 1
            size += length + (3 if length < 24 else 4)
        elif kind is int:
            if 0 <= item < 24:
                size += 1
                continue
            if item < 0:
                if item < _INT_MIN:
                    raise _Reject(_invalid_value(item))
                item = ~item
            elif item > _INT_MAX:
                raise _Reject(_invalid_value(item))
            size += 1 if item < 24 else 2 if item < 0x100 else 3 if item < 0x10000 else 5 if item < 0x100000000 else 9
        elif kind is bool or item is None:
            size += 1
        elif kind is dict or kind is list:
            size += _size(item)
        elif kind is bytes:
            length = len(item)
            size += length + (
                1
                if length < 24
                else 2
                if length < 0x100
                else 3
                if length < 0x10000
                else 5
                if length < 0x100000000
                else 9
            )
        else:
            raise _Reject(_invalid_value(item))
    return size


def check_value(value: Any) -> None:
    """Raise :class:`DecodeError` if ``value`` (decoded data) is outside the data model."""
    try:
        _check(value)
    except RecursionError:
        raise DecodeError("value nested too deeply") from None
    except _Reject as exc:
        raise DecodeError(exc.reason) from None


def _decoder(fp: io.BytesIO, limits: Limits) -> cbor2.CBORDecoder:
    return cbor2.CBORDecoder(
        fp,
        tag_hook=_tag_hook,
        semantic_decoders=_SEMANTIC,
        max_depth=limits.max_depth,
        allow_indefinite=False,
        allow_duplicate_keys=False,
        strict_hashable_types=True,
    )


# Building a CBORDecoder parses all of its options, which costs more than decoding a small
# record; one decoder per thread and per Limits is kept and pointed at each new input.  The
# cache is keyed by the Limits object's id (hashing a frozen dataclass runs Python code on
# every call) and checks that the object is the very one it was built for.
_local = threading.local()


def _stream(data: bytes, limits: Limits) -> tuple[cbor2.CBORDecoder, io.BytesIO]:
    fp = io.BytesIO(data)
    try:
        cache = _local.decoders
    except AttributeError:
        cache = _local.decoders = {}
    entry = cache.get(id(limits))
    if entry is not None and entry[0] is limits:
        decoder = entry[1]
        decoder.fp = fp
    else:
        decoder = _decoder(fp, limits)
        if len(cache) >= 16:
            cache.clear()
        cache[id(limits)] = (limits, decoder)
    return decoder, fp


def _translate(exc: BaseException, offset: int) -> DecodeError:
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, _Reject):
            return DecodeError(f"invalid DAG-CBOR: {cause.reason}", offset)
        cause = cause.__cause__ or cause.__context__
    if isinstance(exc, cbor2.CBORDecodeEOF) or isinstance(exc, EOFError):
        return DecodeError("invalid DAG-CBOR: truncated input", offset)
    message = str(exc) or type(exc).__name__
    return DecodeError(f"invalid DAG-CBOR: {message}", offset)


def _read(decoder: cbor2.CBORDecoder, fp: io.BytesIO, base: int) -> Any:
    start = fp.tell()
    try:
        value = decoder.decode()
    except (
        cbor2.CBORError,
        ValueError,
        TypeError,
        OverflowError,
        MemoryError,
        RecursionError,
        UnicodeError,
        EOFError,
        KeyError,
        IndexError,
        AttributeError,
    ) as exc:
        raise _translate(exc, base + fp.tell()) from None
    try:
        size = _size(value)
    except RecursionError:
        raise DecodeError("invalid DAG-CBOR: nested too deeply", base + start) from None
    except _Reject as exc:
        raise DecodeError(f"invalid DAG-CBOR: {exc.reason}", base + start) from None
    if size != fp.tell() - start:
        # Every head is at least as long as its shortest form, so a size that differs from the
        # canonical one means some integer or length was written in a longer form.
        at = _long_form_at(fp.getvalue(), start)
        raise DecodeError(
            "invalid DAG-CBOR: not canonical: an integer, length or tag is written in a longer form "
            "than needed (DAG-CBOR requires the shortest)",
            base + (start if at < 0 else at),
        )
    return value


def _long_form_at(data: bytes, pos: int) -> int:
    """The offset of the first head of the well-formed item at ``pos`` whose argument has a longer
    form than needed (-1: none)."""
    pending = 1
    end = len(data)
    while pending and pos < end:
        pending -= 1
        first = data[pos]
        major, info = first >> 5, first & 31
        width = 0
        arg = info
        if 24 <= info <= 27:
            width = 1 << (info - 24)
            arg = int.from_bytes(data[pos + 1 : pos + 1 + width], "big")
            if arg < (24 if width == 1 else 1 << (4 * width)):
                return pos
        elif info > 27:
            return -1
        pos += 1 + width
        if major == 2 or major == 3:
            pos += arg
        elif major == 4:
            pending += arg
        elif major == 5:
            pending += 2 * arg
        elif major == 6:
            pending += 1
    return -1


def _as_bytes(data: Any) -> bytes:
    if type(data) is bytes:
        return data
    if isinstance(data, (bytearray, memoryview, bytes)):
        return bytes(data)
    raise DecodeError(f"expected bytes, got {type(data).__name__}")


def _sized(data: Any, limits: Limits) -> bytes:
    raw = _as_bytes(data)
    if len(raw) > limits.max_size:
        raise DecodeError(f"input of {len(raw)} bytes exceeds the {limits.max_size}-byte limit")
    if not raw:
        raise DecodeError("invalid DAG-CBOR: empty input", 0)
    return raw


def decode(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> Any:
    """Decode exactly one DAG-CBOR object; CID links come back as :class:`CID`."""
    data = _sized(data, limits)
    decoder, fp = _stream(data, limits)
    value = _read(decoder, fp, 0)
    end = fp.tell()
    if end != len(data):
        raise DecodeError(f"invalid DAG-CBOR: {len(data) - end} trailing bytes after the object", end)
    return value


def decode_first(data: bytes, *, limits: Limits = DEFAULT_LIMITS) -> tuple[Any, int]:
    """Decode the first DAG-CBOR object of ``data``; return it and the offset after it."""
    data = _sized(data, limits)
    decoder, fp = _stream(data, limits)
    value = _read(decoder, fp, 0)
    return value, fp.tell()


def decode_multi(data: bytes, count: int, *, limits: Limits = DEFAULT_LIMITS) -> list[Any]:
    """Decode exactly ``count`` concatenated objects that fill ``data`` (a frame: header, body)."""
    data = _sized(data, limits)
    decoder, fp = _stream(data, limits)
    size = len(data)
    values = []
    for index in range(count):
        if fp.tell() >= size:
            raise DecodeError(f"invalid DAG-CBOR: expected {count} objects, found {index}", fp.tell())
        values.append(_read(decoder, fp, 0))
    end = fp.tell()
    if end != size:
        raise DecodeError(f"invalid DAG-CBOR: {size - end} trailing bytes after {count} objects", end)
    return values


# -- encoding ---------------------------------------------------------------------------


def _key_order(key: str) -> tuple[int, bytes]:
    raw = key.encode("utf-8")
    return len(raw), raw


def _prepare(value: Any, depth: int = 0) -> Any:
    """Validate ``value`` for encoding and return a copy cbor2 encodes canonically as-is:
    map keys in DAG-CBOR order (length, then bytes) and CIDs as tag 42."""
    kind = type(value)
    if kind is str or kind is bool or value is None or kind is bytes:
        return value
    if kind is CID:
        return cbor2.CBORTag(42, b"\x00" + bytes(value))
    if kind is int:
        if not _INT_MIN <= value <= _INT_MAX:
            raise EncodeError(f"integer {value} is outside the signed 64-bit range")
        return value
    if depth > 256:
        raise EncodeError("value nested too deeply")
    if isinstance(value, dict):
        out = {}
        try:
            keys = sorted(value, key=_key_order)
        except (AttributeError, TypeError):
            bad = next(key for key in value if not isinstance(key, str))
            raise EncodeError(f"map key {bad!r} is not a string") from None
        for key in keys:
            if not isinstance(key, str):
                raise EncodeError(f"map key {key!r} is not a string")
            out[str(key)] = _prepare(value[key], depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [_prepare(item, depth + 1) for item in value]
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return _prepare(int(value), depth)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, float):
        raise EncodeError(f"floating-point number {value!r} is not allowed in the atproto data model")
    raise EncodeError(f"cannot encode a value of type {type(value).__name__}")


def encode(obj: Any) -> bytes:
    """Encode ``obj`` as canonical DAG-CBOR bytes."""
    prepared = _prepare(obj)
    try:
        return cbor2.dumps(prepared)
    except (cbor2.CBOREncodeError, ValueError, TypeError) as exc:
        raise EncodeError(f"cannot encode: {exc}") from None
