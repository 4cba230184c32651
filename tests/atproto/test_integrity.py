"""What the decoders must refuse: CAR blocks that do not match their CIDs, incomplete CARs, bad links."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest

from supervisor.atproto import car, dagcbor
from supervisor.atproto.cid import CID
from supervisor.atproto.errors import DecodeError
from supervisor.atproto.repo import export_repo

CLI = [sys.executable, "-m", "supervisor"]
DID = "did:plc:abcdefghijklmnopqrstuvwx"
RECORDS = {
    f"app.bsky.feed.post/3k{index:011d}": {
        "$type": "app.bsky.feed.post",
        "text": f"post number {index}",
        "createdAt": "2025-01-01T00:00:00.000Z",
    }
    for index in range(23)
}


def _dump(tmp_path: Path, data: bytes, *args: str) -> subprocess.CompletedProcess:
    path = tmp_path / "repo.car"
    path.write_bytes(data)
    return subprocess.run([*CLI, "repo", *args, str(path)], capture_output=True, text=True, timeout=60)


def test_an_intact_repository_dumps(tmp_path: Path) -> None:
    result = _dump(tmp_path, export_repo(DID, "3kaaaaaaaaaaa", RECORDS), "dump")
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == len(RECORDS)


def test_a_flipped_byte_in_a_record_block_is_refused(tmp_path: Path) -> None:
    data = bytearray(export_repo(DID, "3kaaaaaaaaaaa", RECORDS))
    at = bytes(data).index(b"post number 7")
    data[at + 5] ^= 0x01  # inside the text of one record
    for command in ("dump", "inspect"):
        result = _dump(tmp_path, bytes(data), command)
        assert result.returncode == 2, result.stdout
        assert "does not match its CID" in result.stderr


def test_a_car_missing_record_blocks_is_incomplete(tmp_path: Path) -> None:
    full = export_repo(DID, "3kaaaaaaaaaaa", RECORDS)
    roots, blocks = car.read_car(full)
    kept = [(cid, block) for cid, block in blocks.items() if b"post number 1" not in block]  # 11 records go
    cut = car.write_car(roots, kept)
    dumped = _dump(tmp_path, cut, "dump")
    assert dumped.returncode == 2 and "is missing: the CAR is incomplete" in dumped.stderr, dumped.stderr
    inspected = _dump(tmp_path, cut, "inspect")
    assert inspected.returncode == 2
    assert f"11 of {len(RECORDS)} record blocks are missing" in inspected.stderr, inspected.stderr


def _link(cid_bytes: bytes) -> bytes:
    """A DAG-CBOR map {"l": tag 42 over 0x00 + cid_bytes}."""
    payload = b"\x00" + cid_bytes
    assert len(payload) < 256
    return b"\xa1\x61l\xd8\x2a\x58" + bytes([len(payload)]) + payload


DIGEST = hashlib.sha256(b"x").digest()


@pytest.mark.parametrize(
    "cid_bytes, reason",
    [
        (b"\x01\x71\x12\x00", "32 bytes, not 0"),  # sha2-256 with an empty digest
        (b"\x01\x71\x13\x20" + DIGEST, "hash 0x13"),  # sha2-512 code with 32 bytes
        (b"\x12\x20" + DIGEST, "CIDv0"),  # CIDv0 inside tag 42
        (b"\x01\x70\x12\x20" + DIGEST, "codec 0x70"),  # dag-pb
    ],
)
def test_links_outside_the_data_model_are_refused(cid_bytes: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        dagcbor.decode(_link(cid_bytes))


@pytest.mark.parametrize("codec", [0x71, 0x55])
def test_dag_cbor_and_raw_links_are_read(codec: int) -> None:
    cid_bytes = bytes([1, codec, 0x12, 0x20]) + DIGEST
    assert dagcbor.decode(_link(cid_bytes)) == {"l": CID.from_bytes(cid_bytes)}
