"""The atproto JSON representation of data-model values.

CID links become ``{"$link": "b..."}``, byte strings ``{"$bytes": base64}`` (standard
alphabet, no padding); blobs, being maps with ``$type: blob`` and a ``ref`` link, come out as
``{"$type": "blob", "ref": {"$link": ...}, "mimeType": ..., "size": ...}`` naturally.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from supervisor.atproto.cid import CID
from supervisor.atproto.errors import DecodeError

__all__ = ["to_json", "from_json"]


def to_json(value: Any) -> Any:
    """Convert a decoded DAG-CBOR value into plain JSON-compatible Python objects."""
    kind = type(value)
    if kind is dict:
        return {key: to_json(item) for key, item in value.items()}
    if kind is list or kind is tuple:
        return [to_json(item) for item in value]
    if kind is CID:
        return {"$link": str(value)}
    if kind is bytes or kind is bytearray or kind is memoryview:
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii").rstrip("=")}
    return value


def from_json(value: Any) -> Any:
    """The inverse of :func:`to_json`: ``$link`` and ``$bytes`` objects back to CID and bytes."""
    if isinstance(value, dict):
        if len(value) == 1 and "$link" in value and isinstance(value["$link"], str):
            return CID.parse(value["$link"])
        if len(value) == 1 and "$bytes" in value and isinstance(value["$bytes"], str):
            text = value["$bytes"]
            try:
                return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
            except (binascii.Error, ValueError) as exc:
                raise DecodeError(f"invalid $bytes value: {exc}") from None
        return {key: from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_json(item) for item in value]
    return value
