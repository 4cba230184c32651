"""Record a relay's firehose verbatim into a capture file (``supervisor firehose capture``).

The file format is :mod:`supervisor.atproto.capture_io`'s; this module is the network side: it
subscribes, and writes each frame as it arrives.
"""

from __future__ import annotations

import time
from typing import Callable, Optional

from supervisor.atproto.capture_io import write_capture_frame
from supervisor.secrets import mask_text
from supervisor.worker.errors import WorkerError

__all__ = ["CaptureFailed", "record", "MAX_FRAME"]

#: The largest WebSocket message accepted (a relay's frames are far smaller).
MAX_FRAME = 16 * 1024 * 1024


class CaptureFailed(WorkerError):
    """The relay cannot be reached, or the capture file cannot be written; the message says which."""


def record(
    url: str,
    output: str,
    *,
    count: Optional[int] = None,
    on_status: Callable[[str], None] = lambda _: None,
    progress_every: float = 1.0,
    open_timeout: float = 10.0,
) -> int:
    """Record frames from ``url`` into ``output`` until ``count`` frames, the relay closes, or Ctrl-C;
    return how many were written.

    ``output`` is opened only once the relay answered, so a failed connection leaves an existing
    file as it was; Ctrl-C keeps what was recorded. ``on_status`` gets the lines for the user
    ("connected to ...", a frame count every ``progress_every`` seconds, why it stopped).
    Raises :class:`CaptureFailed`.
    """
    from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
    from websockets.sync.client import connect

    received = 0
    last = time.monotonic()
    shown = mask_text(url)
    try:
        # A short close timeout: when we stop early the relay keeps streaming and the close
        # handshake can stall behind unread frames.
        ws = connect(url, max_size=MAX_FRAME, open_timeout=open_timeout, close_timeout=1)
    except (InvalidURI, InvalidHandshake) as exc:
        raise CaptureFailed(f"cannot subscribe to {shown}: {exc}; check the --relay URL") from None
    except (OSError, TimeoutError) as exc:
        raise CaptureFailed(f"cannot connect to {shown}: {exc}; is the relay running?") from None
    with ws:
        on_status(f"connected to {shown}")
        try:
            out = open(output, "wb")
        except OSError as exc:
            raise CaptureFailed(f"{output}: {exc.strerror or exc}") from None
        with out:
            try:
                while count is None or received < count:
                    try:
                        message = ws.recv()
                    except ConnectionClosed:
                        on_status("relay closed the connection")
                        break
                    except (OSError, TimeoutError) as exc:
                        on_status(f"connection lost: {exc}")
                        break
                    if isinstance(message, str):
                        message = message.encode("utf-8")
                    write_capture_frame(out, message)
                    received += 1
                    now = time.monotonic()
                    if now - last >= progress_every:
                        on_status(f"{received} frames")
                        last = now
            except KeyboardInterrupt:
                on_status("interrupted")
            except OSError as exc:
                raise CaptureFailed(f"{output}: {exc.strerror or exc} after {received} frames") from None
    return received
