"""The accounts' signing keys and DID documents: a small PLC directory for the development relay.

Each account's repository signing key (secp256k1, as PDSes use) is derived from the network's
seed, the DID and the key's generation (0, then one more after each rotation), so a seed gives
the same keys every run. :func:`did_document` is what the relay serves at ``/{did}``, in the
shape of plc.directory: the ``#atproto`` Multikey and the ``#atproto_pds`` service.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Callable

from supervisor.atproto.crypto import K256, PrivateKey

__all__ = ["AccountKey", "account_key", "did_document", "forger"]


class AccountKey:
    """One generation of an account's signing key: a fast signer and its public Multikey."""

    __slots__ = ("secret", "multikey", "sign")

    def __init__(self, secret: bytes) -> None:
        self.secret = secret
        self.multikey = PrivateKey.from_bytes(K256, secret).public_key.multikey()
        self.sign: Callable[[bytes], bytes] = _signer(secret)


def _signer(secret: bytes) -> Callable[[bytes], bytes]:
    """A function giving the 64-byte low-S signature of SHA-256(message) by ``secret``."""
    try:
        import coincurve
    except ImportError:  # pragma: no cover - coincurve is a dependency; cryptography signs too
        return PrivateKey.from_bytes(K256, secret).sign
    key = coincurve.PrivateKey(secret)

    def sign(message: bytes) -> bytes:
        # libsecp256k1 signs deterministically (RFC 6979) and always in low-S form
        return key.sign_recoverable(bytes(message), hasher=lambda data: hashlib.sha256(data).digest())[:64]

    return sign


@functools.lru_cache(maxsize=65_536)
def account_key(seed: int | str, did: str, generation: int = 0) -> AccountKey:
    """The signing key of ``did`` at ``generation`` in the network of ``seed``."""
    counter = 0
    while True:  # a digest outside 1..n-1 is astronomically rare; derive again if it happens
        secret = hashlib.sha256(f"devrelay-key:{seed}:{did}:{generation}:{counter}".encode()).digest()
        if 0 < int.from_bytes(secret, "big") < K256.order:
            return AccountKey(secret)
        counter += 1


def forger(seed: int | str, did: str) -> AccountKey:
    """A key that is not the account's: what a forged commit is signed with."""
    return account_key(f"forged:{seed}", did, 0)


def did_document(did: str, handle: str | None, key: AccountKey, pds: str) -> dict[str, Any]:
    """The DID document of an account: handle, ``#atproto`` signing key, ``#atproto_pds`` endpoint."""
    doc: dict[str, Any] = {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "alsoKnownAs": [f"at://{handle}"] if handle else [],
        "verificationMethod": [
            {
                "id": f"{did}#atproto",
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": key.multikey,
            }
        ],
        "service": [{"id": "#atproto_pds", "type": "AtprotoPersonalDataServer", "serviceEndpoint": pds}],
    }
    return doc
