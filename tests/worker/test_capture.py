"""Recording a relay into a capture file (supervisor.worker.capture), against a real WebSocket server."""

from __future__ import annotations

import socket
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from supervisor.atproto.capture_io import iter_capture_frames
from supervisor.worker.capture import CaptureFailed, record


@contextmanager
def relay(handler: Callable[[ServerConnection], None]) -> Iterator[str]:
    with serve(handler, "127.0.0.1", 0) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/xrpc/com.atproto.sync.subscribeRepos"
        finally:
            server.shutdown()


def _frames(path) -> list[bytes]:
    with open(path, "rb") as fh:
        return list(iter_capture_frames(fh))


def test_frames_are_kept_verbatim_until_the_relay_closes(tmp_path):
    sent = [b"\xa2first", b"second", "text frame"]

    def handler(ws: ServerConnection) -> None:
        for frame in sent:
            ws.send(frame)
        ws.close()

    status: list[str] = []
    with relay(handler) as url:
        got = record(url, str(tmp_path / "c.bin"), on_status=status.append, progress_every=3600)
    assert got == 3
    assert _frames(tmp_path / "c.bin") == [b"\xa2first", b"second", b"text frame"]
    assert status == [f"connected to {url}", "relay closed the connection"]


def test_count_stops_the_recording(tmp_path):
    def handler(ws: ServerConnection) -> None:
        try:
            for seq in range(100):
                ws.send(seq.to_bytes(2, "big"))
            ws.recv()
        except ConnectionClosed:
            pass

    with relay(handler) as url:
        assert record(url, str(tmp_path / "c.bin"), count=4) == 4
    assert _frames(tmp_path / "c.bin") == [i.to_bytes(2, "big") for i in range(4)]


def test_progress_is_reported_as_frames_arrive(tmp_path):
    def handler(ws: ServerConnection) -> None:
        for seq in range(3):
            ws.send(bytes([seq]))
        ws.close()

    status: list[str] = []
    with relay(handler) as url:
        record(url, str(tmp_path / "c.bin"), on_status=status.append, progress_every=0)
    assert status[1:] == ["1 frames", "2 frames", "3 frames", "relay closed the connection"]


def test_an_unreachable_relay_leaves_the_file_as_it_was(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    existing = tmp_path / "old.bin"
    existing.write_bytes(b"previous capture")
    with pytest.raises(CaptureFailed, match=f"cannot connect to ws://127.0.0.1:{port}/x: .*is the relay running"):
        record(f"ws://127.0.0.1:{port}/x", str(existing))
    assert existing.read_bytes() == b"previous capture"


def test_a_refused_handshake_names_the_url_with_its_password_masked(tmp_path):
    def handler(ws: ServerConnection) -> None:
        ws.close()

    with serve(handler, "127.0.0.1", 0, process_request=lambda conn, request: conn.respond(404, "no\n")) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        port = server.socket.getsockname()[1]
        with pytest.raises(CaptureFailed) as failed:
            record(f"ws://user:hunter2secret@127.0.0.1:{port}/x", str(tmp_path / "c.bin"))
        server.shutdown()
    assert "cannot subscribe to" in str(failed.value) and "check the --relay URL" in str(failed.value)
    assert "hunter2secret" not in str(failed.value)
    assert not (tmp_path / "c.bin").exists()


def test_an_unwritable_output_is_a_capture_failure(tmp_path):
    def handler(ws: ServerConnection) -> None:
        ws.send(b"x")
        ws.close()

    with relay(handler) as url, pytest.raises(CaptureFailed, match="No such file or directory"):
        record(url, str(tmp_path / "missing-dir" / "c.bin"))
