"""Remembered verdicts: which documents were already found valid against which schema.

JSON Schema validation means importing ``jsonschema`` and compiling a schema, which costs more
than everything else a short command does. A document that validated once is not checked
again: its digest (with the schema's) is kept as an empty file under
``$XDG_CACHE_HOME/appview-supervisor/schema-valid/``. Only successes are kept, so an error is
always reported afresh. ``SUPERVISOR_NO_CACHE=1`` switches this off; an unwritable cache is
no error.
"""

from __future__ import annotations

import json
import os
from typing import Any, Optional

try:  # the built-in implementation: loading OpenSSL through hashlib costs a few ms per start
    from _sha256 import sha256 as _sha256
except ImportError:  # pragma: no cover - Python builds without it
    from hashlib import sha256 as _sha256

__all__ = ["verdict_key", "known_valid", "remember_valid", "cache_dir"]

_FORMAT = "1"


def cache_dir() -> Optional[str]:
    """The folder of remembered verdicts, or None when caching is off."""
    if os.environ.get("SUPERVISOR_NO_CACHE"):
        return None
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "appview-supervisor", "schema-valid")


def verdict_key(schema: Any, definition: str, document: Any) -> Optional[str]:
    """A digest of the schema, the definition checked and the document; None if not JSON."""
    try:
        schema_text = schema if isinstance(schema, str) else json.dumps(schema, sort_keys=True)
        text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except (TypeError, ValueError):
        return None
    digest = _sha256(_FORMAT.encode())
    for part in (schema_text, definition, text):
        digest.update(b"\0" + part.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


def _path(directory: str, key: str) -> str:
    return os.path.join(directory, key[:2], key)


def known_valid(key: Optional[str]) -> bool:
    """True when the document behind ``key`` was found valid before."""
    directory = cache_dir()
    return bool(key and directory and os.path.exists(_path(directory, key)))


def remember_valid(key: Optional[str]) -> None:
    """Keep the verdict that the document behind ``key`` is valid (best effort)."""
    directory = cache_dir()
    if not key or not directory:
        return
    try:
        os.makedirs(os.path.dirname(_path(directory, key)), exist_ok=True)
        with open(_path(directory, key), "w"):
            pass
    except OSError:
        pass
