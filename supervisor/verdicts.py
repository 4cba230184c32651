"""Remembered verdicts, and the one way a document is checked against a JSON Schema.

JSON Schema validation means importing ``jsonschema`` and compiling a schema, which costs more
than everything else a short command does. A document that validated once is not checked
again: its digest (with the schema's) is kept by a :class:`Verdicts` store. The command line
keeps them as empty files under ``$XDG_CACHE_HOME/appview-supervisor/schema-valid/``
(:meth:`VerdictCache.from_environment`); ``SUPERVISOR_NO_CACHE=1`` switches this off, and an
unwritable cache is no error. Only successes are kept, so an error is always reported afresh.

The pure cores never build a store themselves: they take one (or None) as an argument and call
:func:`schema_violation`, which is where a document is checked, a verdict looked up and kept, and
the violation to report chosen.
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Any, Callable, Iterable, Mapping, Optional, Protocol

try:  # the built-in implementation: loading OpenSSL through hashlib costs a few ms per start
    from _sha256 import sha256 as _sha256
except ImportError:  # pragma: no cover - Python builds without it
    from hashlib import sha256 as _sha256

__all__ = ["Verdicts", "VerdictCache", "MemoryVerdicts", "verdict_key", "schema_violation", "deepest"]

_FORMAT = "1"


class Verdicts(Protocol):
    """Where verdicts of valid documents are kept."""

    def known_valid(self, key: str) -> bool:
        """True when the document behind ``key`` was found valid before."""

    def remember_valid(self, key: str) -> None:
        """Keep the verdict that the document behind ``key`` is valid (best effort)."""

    def __hash__(self) -> int:
        """Stores are hashable (what was read with one may be kept for it)."""


@dataclasses.dataclass(frozen=True)
class VerdictCache:
    """Verdicts kept as empty files in ``directory`` (one per valid document)."""

    directory: str

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Optional["VerdictCache"]:
        """The cache under ``$XDG_CACHE_HOME`` (else ``~/.cache``); None when ``SUPERVISOR_NO_CACHE`` is set."""
        if environ.get("SUPERVISOR_NO_CACHE"):
            return None
        base = environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        return cls(os.path.join(base, "appview-supervisor", "schema-valid"))

    def _path(self, key: str) -> str:
        return os.path.join(self.directory, key[:2], key)

    def known_valid(self, key: str) -> bool:
        return os.path.exists(self._path(key))

    def remember_valid(self, key: str) -> None:
        try:
            os.makedirs(os.path.dirname(self._path(key)), exist_ok=True)
            with open(self._path(key), "w"):
                pass
        except OSError:
            pass


class MemoryVerdicts:
    """Verdicts kept in memory (for one process, or a test)."""

    def __init__(self) -> None:
        self.keys: set[str] = set()

    def known_valid(self, key: str) -> bool:
        return key in self.keys

    def remember_valid(self, key: str) -> None:
        self.keys.add(key)


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


def deepest(errors: Iterable[Any]) -> Optional[Any]:
    """The violation with the longest path (the first of those), as compose reports it; None for none."""
    best = None
    for candidate in errors:
        if best is None or len(list(candidate.absolute_path)) > len(list(best.absolute_path)):
            best = candidate
    return best


def schema_violation(
    validator: Callable[[], Any], document: Any, *, schema: Any, definition: str, verdicts: Optional[Verdicts]
) -> Optional[Any]:
    """The violation of ``document`` to report (a ``jsonschema`` error, see :func:`deepest`), or None.

    ``validator`` builds the ``jsonschema`` validator, and is called only when the document has no
    remembered verdict; ``schema`` and ``definition`` name what the document is checked against in
    the verdict's key. A valid document's verdict is kept in ``verdicts`` (when given).
    """
    key = verdict_key(schema, definition, document) if verdicts is not None else None
    if verdicts is not None and key is not None and verdicts.known_valid(key):
        return None
    error = deepest(validator().iter_errors(document))
    if error is None and verdicts is not None and key is not None:
        verdicts.remember_valid(key)
    return error
