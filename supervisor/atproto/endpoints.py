"""The ``com.atproto.sync.subscribeRepos`` URL of a relay, from what an operator writes.

``bsky.network`` -> ``wss://bsky.network/xrpc/com.atproto.sync.subscribeRepos``; a bare host
with a port (``localhost:2470``, a development relay) gets ``ws://``; ``http``/``https`` map to
``ws``/``wss``; a URL that already names the method path keeps it.  Pure: no I/O.
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit, urlunsplit

__all__ = ["SUBSCRIBE_PATH", "subscribe_url"]

SUBSCRIBE_PATH = "/xrpc/com.atproto.sync.subscribeRepos"


def subscribe_url(relay: str, cursor: int | None = None, *, allow_query: bool = True) -> str:
    """The WebSocket URL; raises ``ValueError`` with the reason (to be named with the setting)."""
    text = relay.strip()
    if not text:
        raise ValueError("is empty")
    if "://" not in text:
        host_port = text.split("/", 1)[0]
        text = ("ws://" if ":" in host_port.rsplit("]", 1)[-1] else "wss://") + text
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise ValueError(f"is not a usable URL ({exc})") from None
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme.lower(), parts.scheme.lower())
    if scheme not in ("ws", "wss"):
        raise ValueError(f"has an unsupported scheme {parts.scheme!r} (use ws, wss, http or https)")
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ValueError(f"has an invalid port ({exc})") from None
    if not host:
        raise ValueError("has no host")
    if not allow_query and (parts.query or parts.fragment):
        raise ValueError("has a query or fragment (the cursor is managed for you)")
    path = parts.path.rstrip("/")
    if path == "":
        path = SUBSCRIBE_PATH
    elif not path.endswith(SUBSCRIBE_PATH):
        raise ValueError(f"path {parts.path!r} is not {SUBSCRIBE_PATH}")
    query = parts.query
    if cursor is not None:
        extra = urlencode({"cursor": cursor})
        query = f"{query}&{extra}" if query else extra
    return urlunsplit((scheme, parts.netloc, path, query, ""))
