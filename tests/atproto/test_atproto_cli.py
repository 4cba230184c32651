"""The firehose and repo commands, on generated captures, a live WebSocket server and CARs."""

from __future__ import annotations

import json
import threading

import pytest
from click.testing import CliRunner

from supervisor.atproto import dagcbor
from supervisor.atproto.capture_io import iter_capture_frames, write_capture_frame
from supervisor.atproto.frames import (
    encode_account,
    encode_commit,
    encode_error,
    encode_frame,
    encode_identity,
    encode_info,
    encode_sync,
)
from supervisor.atproto.repo import export_repo
from supervisor.cli import main

DID = "did:plc:ewvi7nxzyoun6zhxrhs64oiz"
TIME = "2024-05-01T12:00:00.000Z"
POST = {
    "$type": "app.bsky.feed.post",
    "text": "héllo",
    "createdAt": TIME,
    "embed": {
        "$type": "app.bsky.embed.images",
        "images": [
            {
                "alt": "",
                "image": {
                    "$type": "blob",
                    "ref": dagcbor.CID.for_block(b"img", codec=0x55),
                    "mimeType": "image/jpeg",
                    "size": 1234,
                },
            }
        ],
    },
}


def _frames():
    return [
        encode_commit(
            1,
            DID,
            "3kabcaaaaaaaa",
            None,
            TIME,
            [("create", "app.bsky.feed.post/3k1", None, POST), ("delete", "app.bsky.feed.like/3k2", None, None)],
        ),
        encode_identity(2, DID, TIME, "alice.test"),
        encode_account(3, DID, TIME, False, "deactivated"),
        encode_sync(4, DID, "3kabdaaaaaaaa", TIME),
        encode_info("OutdatedCursor", "cursor too old"),
        encode_frame({"op": 1, "t": "#future"}, {"seq": 5}),
        encode_error("ConsumerTooSlow", "slow down"),
    ]


def _capture(path, frames):
    with open(path, "wb") as fh:
        for frame in frames:
            write_capture_frame(fh, frame)


def _lines(output):
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_decode_jsonl(tmp_path):
    path = tmp_path / "cap.bin"
    _capture(path, _frames())
    result = CliRunner().invoke(main, ["firehose", "decode", str(path)])
    assert result.exit_code == 0, result.output
    lines = _lines(result.output)
    commit = lines[0]
    assert commit["type"] == "#commit" and commit["seq"] == 1 and commit["did"] == DID
    assert commit["rev"] == "3kabcaaaaaaaa" and commit["since"] is None and commit["time"] == TIME
    create, delete = commit["ops"]
    assert create["action"] == "create" and create["path"] == "app.bsky.feed.post/3k1"
    assert create["cid"].startswith("bafyrei")
    assert create["record"]["text"] == "héllo"
    image = create["record"]["embed"]["images"][0]["image"]
    assert image["$type"] == "blob" and image["ref"]["$link"].startswith("bafkrei") and image["size"] == 1234
    assert delete == {"action": "delete", "path": "app.bsky.feed.like/3k2", "cid": None, "record": None}
    assert lines[1] == {"seq": 2, "type": "#identity", "did": DID, "time": TIME, "handle": "alice.test"}
    assert lines[2] == {
        "seq": 3,
        "type": "#account",
        "did": DID,
        "time": TIME,
        "active": False,
        "status": "deactivated",
    }
    assert lines[3] == {"seq": 4, "type": "#sync", "did": DID, "rev": "3kabdaaaaaaaa", "time": TIME}
    assert lines[4] == {"type": "#info", "name": "OutdatedCursor", "message": "cursor too old"}
    assert lines[5] == {"type": "#future"}
    assert lines[6] == {"type": "error", "error": "ConsumerTooSlow", "message": "slow down"}


def test_decode_count(tmp_path):
    path = tmp_path / "cap.bin"
    _capture(path, _frames() + [encode_identity(9, DID, TIME)])
    result = CliRunner().invoke(main, ["firehose", "decode", str(path), "--format", "count"])
    assert result.exit_code == 0, result.output
    rows = dict(line.split("\t") for line in result.output.splitlines())
    assert rows["#commit"] == "1" and rows["#identity"] == "2" and rows["error"] == "1"
    assert rows["unknown:#future"] == "1" and rows["total"] == "8"
    assert float(rows["events/s"]) > 0


def test_malformed_frames_are_reported_and_decoding_continues(tmp_path):
    path = tmp_path / "cap.bin"
    good = encode_identity(2, DID, TIME)
    _capture(path, [encode_identity(1, DID, TIME), b"\xff\x00garbage", good])
    result = CliRunner().invoke(main, ["firehose", "decode", str(path)])
    assert result.exit_code == 1
    lines = _lines(result.stdout)
    assert lines[1]["type"] == "malformed" and lines[1]["offset"] == 4 + len(good)
    assert lines[1]["error"]
    assert lines[2]["seq"] == 2


def test_truncated_capture_exits_2(tmp_path):
    path = tmp_path / "cap.bin"
    _capture(path, [encode_identity(1, DID, TIME), encode_identity(2, DID, TIME)])
    path.write_bytes(path.read_bytes()[:-3])
    result = CliRunner().invoke(main, ["firehose", "decode", str(path)])
    assert result.exit_code == 2
    assert "truncated" in result.stderr
    assert _lines(result.stdout)[0]["seq"] == 1


def test_capture_from_a_websocket_server(tmp_path):
    from websockets.sync.server import serve

    frames = _frames()[:5]
    seen = {}

    def handler(ws):
        seen["path"] = ws.request.path
        for frame in frames:
            ws.send(frame)
        ws.close()

    with serve(handler, "127.0.0.1", 0) as server:
        port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        out = tmp_path / "live.bin"
        result = CliRunner().invoke(
            main, ["firehose", "capture", "--relay", f"ws://127.0.0.1:{port}", "--cursor", "7", "-o", str(out)]
        )
        server.shutdown()
    assert result.exit_code == 0, result.output
    assert seen["path"] == "/xrpc/com.atproto.sync.subscribeRepos?cursor=7"
    with open(out, "rb") as fh:
        assert list(iter_capture_frames(fh)) == frames
    decoded = CliRunner().invoke(main, ["firehose", "decode", str(out)])
    assert decoded.exit_code == 0 and len(_lines(decoded.output)) == 5


def test_capture_stops_after_count(tmp_path):
    from websockets.sync.server import serve

    def handler(ws):
        from websockets.exceptions import ConnectionClosed

        try:
            for seq in range(1, 100):
                ws.send(encode_identity(seq, DID, TIME))
            ws.recv()  # until the client goes away
        except ConnectionClosed:
            pass

    with serve(handler, "127.0.0.1", 0) as server:
        port = server.socket.getsockname()[1]
        threading.Thread(target=server.serve_forever, daemon=True).start()
        out = tmp_path / "three.bin"
        result = CliRunner().invoke(
            main,
            [
                "firehose",
                "capture",
                "--relay",
                f"ws://127.0.0.1:{port}/xrpc/com.atproto.sync.subscribeRepos",
                "--count",
                "3",
                "-o",
                str(out),
            ],
        )
        server.shutdown()
    assert result.exit_code == 0, result.output
    with open(out, "rb") as fh:
        assert len(list(iter_capture_frames(fh))) == 3


def test_capture_connection_refused_exits_2(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = CliRunner().invoke(
        main, ["firehose", "capture", "--relay", f"127.0.0.1:{port}", "-o", str(tmp_path / "x.bin")]
    )
    assert result.exit_code == 2 and "cannot connect" in result.stderr


@pytest.mark.parametrize(
    "relay, expected",
    [
        ("ws://h:1", "ws://h:1/xrpc/com.atproto.sync.subscribeRepos"),
        ("h:1", "ws://h:1/xrpc/com.atproto.sync.subscribeRepos"),
        ("https://relay.example", "wss://relay.example/xrpc/com.atproto.sync.subscribeRepos"),
        (
            "wss://r.example/xrpc/com.atproto.sync.subscribeRepos?x=1",
            "wss://r.example/xrpc/com.atproto.sync.subscribeRepos?x=1",
        ),
    ],
)
def test_subscribe_url(relay, expected):
    from supervisor.cli.atproto import subscribe_url

    assert subscribe_url(relay) == expected


def _repo_file(tmp_path):
    records = {
        "app.bsky.feed.post/3k2": {"$type": "app.bsky.feed.post", "text": "two", "createdAt": TIME},
        "app.bsky.feed.post/3k1": {"$type": "app.bsky.feed.post", "text": "one", "createdAt": TIME},
        "app.bsky.actor.profile/self": {
            "$type": "app.bsky.actor.profile",
            "avatar": POST["embed"]["images"][0]["image"],
        },
    }
    path = tmp_path / "repo.car"
    path.write_bytes(export_repo(DID, "3kabcaaaaaaaa", records))
    return path, records


def test_repo_dump_tsv_and_jsonl(tmp_path):
    path, records = _repo_file(tmp_path)
    result = CliRunner().invoke(main, ["repo", "dump", str(path)])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.output.splitlines()]
    assert [row[0] for row in rows] == sorted(records)
    assert all(row[1].startswith("bafyrei") for row in rows)
    result = CliRunner().invoke(main, ["repo", "dump", str(path), "--format", "jsonl"])
    lines = _lines(result.output)
    assert [line["path"] for line in lines] == sorted(records)
    assert lines[0]["record"]["avatar"]["ref"]["$link"].startswith("bafkrei")
    assert lines[1]["record"]["text"] == "one"


def test_repo_inspect(tmp_path):
    path, records = _repo_file(tmp_path)
    result = CliRunner().invoke(main, ["repo", "inspect", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["did"] == DID and info["rev"] == "3kabcaaaaaaaa" and info["version"] == 3
    assert info["data"].startswith("bafyrei") and info["records"] == len(records)
    text = CliRunner().invoke(main, ["repo", "inspect", str(path)])
    assert DID in text.output and "rev" in text.output


def test_repo_commands_reject_a_broken_car(tmp_path):
    path = tmp_path / "bad.car"
    path.write_bytes(b"\x05hello")
    for command in (["repo", "dump", str(path)], ["repo", "inspect", str(path)]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2 and "error:" in result.stderr
