"""atproto cryptography: ``did:key`` public keys, ECDSA signatures, commit signatures.

Two curves, as the atproto cryptography spec names them: ``p256`` (NIST P-256, JWT ``ES256``)
and ``k256`` (secp256k1, JWT ``ES256K``). Public keys travel as compressed points (33 bytes)
behind a multicodec varint (``0x1200`` p256-pub, ``0xe7`` secp256k1-pub), in multibase
base58btc (``z...``); ``did:key:`` + that string is the key's DID.

A signature is ECDSA over SHA-256 of the message, 64 bytes ``r || s`` (big-endian, 32 bytes
each). atproto requires the low-S form: a signature whose ``s`` exceeds half the curve order is
refused even though plain ECDSA would accept it, and so is a DER-encoded signature. Signing
here always produces the low-S form.

Curve arithmetic comes from maintained libraries: ``coincurve`` (libsecp256k1) verifies k256,
about nine times faster than OpenSSL's secp256k1 (see ``bench/bench_verify.py``);
``cryptography`` (OpenSSL) does p256, signing and key generation. Without ``coincurve``,
``cryptography`` verifies k256 too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from supervisor.atproto import dagcbor
from supervisor.atproto.cid import _b58_decode, _b58_encode  # the one base58btc codec of the package
from supervisor.atproto.errors import DecodeError, EncodeError, KeyFormatError, SignatureError
from supervisor.atproto.varint import decode_varint, encode_varint
from supervisor.atproto.verdict import VALID, Verdict, failed, from_error

try:  # libsecp256k1: the fast path for k256 verification
    import coincurve as _coincurve
except ImportError:  # pragma: no cover - exercised only where coincurve is not installed
    _coincurve = None  # type: ignore[assignment]  # an optional module: None stands for "not installed"

__all__ = [
    "Curve",
    "P256",
    "K256",
    "CURVES",
    "PublicKey",
    "PrivateKey",
    "parse_did_key",
    "parse_multikey",
    "parse_legacy_multibase",
    "format_did_key",
    "generate_key",
    "check_signature",
    "verify_signature",
    "unsigned_commit",
    "sign_commit",
    "verify_commit_signature",
    "SIGNATURE_FORMAT",
    "SIGNATURE_HIGH_S",
    "SIGNATURE_INVALID",
    "COMMIT_MALFORMED",
    "DID_KEY_PREFIX",
]

DID_KEY_PREFIX = "did:key:"

#: Reason codes of failed signature checks.
SIGNATURE_FORMAT = "signature_format"  # not 64 bytes (DER, truncated...), or r/s out of range
SIGNATURE_HIGH_S = "signature_high_s"  # s above half the curve order: malleable, refused
SIGNATURE_INVALID = "signature_invalid"  # well-formed, but not made by this key over this message
COMMIT_MALFORMED = "commit_malformed"  # a commit object without a byte-string 'sig' or not a map

_MAX_KEY_TEXT = 128  # a multibase key is ~50 characters; this bounds base58 decoding


@dataclass(frozen=True)
class Curve:
    """One of the two atproto signature curves."""

    name: str  #: ``p256`` or ``k256``
    jwt_alg: str  #: ``ES256`` or ``ES256K``
    multicodec: int  #: the public-key multicodec
    order: int  #: the order n of the curve's group
    legacy_suite: str  #: the DID document ``type`` of the older, prefix-less key form
    _ec: ec.EllipticCurve = field(repr=False, compare=False)

    @property
    def half_order(self) -> int:
        """The largest ``s`` of a low-S signature."""
        return self.order // 2


P256 = Curve(
    "p256",
    "ES256",
    0x1200,
    0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
    "EcdsaSecp256r1VerificationKey2019",
    ec.SECP256R1(),
)
K256 = Curve(
    "k256",
    "ES256K",
    0xE7,
    0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    "EcdsaSecp256k1VerificationKey2019",
    ec.SECP256K1(),
)
CURVES: Mapping[str, Curve] = {P256.name: P256, K256.name: K256}
_BY_CODEC = {P256.multicodec: P256, K256.multicodec: K256}
_ECDSA = ec.ECDSA(hashes.SHA256())
_ECDSA_DETERMINISTIC = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)


def _curve(curve: Curve | str) -> Curve:
    if isinstance(curve, Curve):
        return curve
    found = CURVES.get(curve)
    if found is None:
        raise KeyFormatError(f"unknown curve {curve!r} (expected one of {', '.join(CURVES)})")
    return found


class PublicKey:
    """A validated public key on one of the atproto curves; cheap to verify with repeatedly.

    Build one with :func:`parse_did_key`, :func:`parse_multikey` or :meth:`from_compressed`;
    keep it (per account) rather than parsing the key for every commit.
    """

    __slots__ = ("curve", "compressed", "_verify")

    def __init__(self, curve: Curve | str, point: bytes) -> None:
        """``point``: the SEC1 encoding, compressed (33 bytes) or uncompressed (65 bytes)."""
        curve = _curve(curve)
        if type(point) is not bytes or len(point) not in (33, 65):
            raise KeyFormatError(f"{curve.name} public key must be a 33- or 65-byte SEC1 point")
        try:
            key = ec.EllipticCurvePublicKey.from_encoded_point(curve._ec, point)
        except ValueError as exc:
            raise KeyFormatError(f"{curve.name} public key is not a point on the curve: {exc}") from None
        self.curve = curve
        self.compressed = key.public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
        self._verify = _verifier(curve, key, self.compressed)

    @classmethod
    def from_compressed(cls, curve: Curve | str, point: bytes) -> "PublicKey":
        """The key whose compressed SEC1 point is ``point``."""
        return cls(curve, point)

    def multikey(self) -> str:
        """The multibase form with the multicodec prefix (DID documents' ``Multikey``)."""
        return "z" + _b58_encode(encode_varint(self.curve.multicodec) + self.compressed)

    def did_key(self) -> str:
        """``did:key:z...``."""
        return DID_KEY_PREFIX + self.multikey()

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Whether ``signature`` is a valid low-S compact signature of ``message`` by this key."""
        return verify_signature(self, message, signature).ok

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.curve is self.curve and other.compressed == self.compressed

    def __hash__(self) -> int:
        return hash((self.curve.name, self.compressed))

    def __repr__(self) -> str:
        return f"PublicKey({self.did_key()!r})"


def _verifier(curve: Curve, key: ec.EllipticCurvePublicKey, compressed: bytes) -> Any:
    """A function ``(message, der_signature) -> bool`` for this key."""
    if curve is K256 and _coincurve is not None:
        point_verify = _coincurve.PublicKey(compressed).verify

        def verify_k256(message: bytes, der: bytes) -> bool:
            return point_verify(der, message)

        return verify_k256

    def verify(message: bytes, der: bytes) -> bool:
        try:
            key.verify(der, message, _ECDSA)
        except InvalidSignature:
            return False
        return True

    return verify


class PrivateKey:
    """A signing key (development relay, tests). Signatures are deterministic (RFC 6979), low-S."""

    __slots__ = ("curve", "_key", "public_key")

    def __init__(self, curve: Curve | str, key: ec.EllipticCurvePrivateKey) -> None:
        self.curve = _curve(curve)
        self._key = key
        point = key.public_key().public_bytes(Encoding.X962, PublicFormat.CompressedPoint)
        self.public_key = PublicKey(self.curve, point)

    @classmethod
    def generate(cls, curve: Curve | str = K256) -> "PrivateKey":
        """A fresh random key."""
        curve = _curve(curve)
        return cls(curve, ec.generate_private_key(curve._ec))

    @classmethod
    def from_bytes(cls, curve: Curve | str, secret: bytes) -> "PrivateKey":
        """The key whose 32-byte big-endian scalar is ``secret``."""
        curve = _curve(curve)
        if type(secret) is not bytes or len(secret) != 32:
            raise KeyFormatError(f"{curve.name} private key must be 32 bytes")
        value = int.from_bytes(secret, "big")
        if not 0 < value < curve.order:
            raise KeyFormatError(f"{curve.name} private key is out of range")
        return cls(curve, ec.derive_private_key(value, curve._ec))

    def to_bytes(self) -> bytes:
        """The 32-byte big-endian scalar."""
        return self._key.private_numbers().private_value.to_bytes(32, "big")

    def sign(self, message: bytes) -> bytes:
        """The 64-byte low-S signature of SHA-256(``message``)."""
        r, s = decode_dss_signature(self._key.sign(bytes(message), _ECDSA_DETERMINISTIC))
        if s > self.curve.half_order:
            s = self.curve.order - s
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")

    def __repr__(self) -> str:
        return f"PrivateKey({self.curve.name}, public={self.public_key.did_key()!r})"


def generate_key(curve: Curve | str = K256) -> PrivateKey:
    """A fresh random signing key on ``curve`` (``k256`` by default, as PDSes use)."""
    return PrivateKey.generate(curve)


# -- key text forms -----------------------------------------------------------------------------


def _multibase_bytes(text: Any, what: str) -> bytes:
    if type(text) is not str:
        raise KeyFormatError(f"{what} must be a string, not {type(text).__name__}")
    if len(text) > _MAX_KEY_TEXT:
        raise KeyFormatError(f"{what} is longer than {_MAX_KEY_TEXT} characters")
    if not text.startswith("z") or len(text) < 2:
        raise KeyFormatError(f"{what} must be multibase base58btc ('z...')")
    try:
        return _b58_decode(text[1:])
    except DecodeError:
        raise KeyFormatError(f"{what} is not valid base58btc") from None


def parse_multikey(text: str) -> PublicKey:
    """A public key from its multibase form ``z...`` (multicodec prefix + compressed point)."""
    raw = _multibase_bytes(text, "multibase key")
    try:
        codec, pos = decode_varint(raw, 0)
    except DecodeError:
        raise KeyFormatError("multibase key has no multicodec prefix") from None
    curve = _BY_CODEC.get(codec)
    if curve is None:
        raise KeyFormatError(
            f"multibase key has unsupported multicodec 0x{codec:x} (expected p256-pub or secp256k1-pub)"
        )
    point = raw[pos:]
    if len(point) != 33:
        raise KeyFormatError(f"{curve.name} multibase key must hold a 33-byte compressed point, not {len(point)} bytes")
    return PublicKey(curve, point)


def parse_did_key(text: str) -> PublicKey:
    """A public key from ``did:key:z...``."""
    if type(text) is not str or not text.startswith(DID_KEY_PREFIX):
        raise KeyFormatError(f"not a did:key: {str(text)[:40]!r}")
    return parse_multikey(text[len(DID_KEY_PREFIX) :])


def parse_legacy_multibase(text: str, curve: Curve | str) -> PublicKey:
    """A public key in the older DID document form: multibase of the point, no multicodec."""
    curve = _curve(curve)
    raw = _multibase_bytes(text, "multibase key")
    return PublicKey(curve, raw)


def format_did_key(key: PublicKey) -> str:
    """``did:key:z...`` for ``key``."""
    return key.did_key()


# -- signatures ---------------------------------------------------------------------------------


def check_signature(key: PublicKey, message: bytes, signature: bytes) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is a valid low-S compact signature."""
    if type(signature) is not bytes or len(signature) != 64:
        size = len(signature) if isinstance(signature, (bytes, bytearray)) else None
        raise SignatureError(SIGNATURE_FORMAT, f"a signature must be 64 bytes r||s, not {size} bytes")
    curve = key.curve
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not 0 < r < curve.order or not 0 < s < curve.order:
        raise SignatureError(SIGNATURE_FORMAT, "signature r or s is outside 1..n-1")
    if s > curve.half_order:
        raise SignatureError(SIGNATURE_HIGH_S, "signature is not in low-S form")
    if not key._verify(bytes(message), encode_dss_signature(r, s)):
        raise SignatureError(SIGNATURE_INVALID, f"signature does not verify under {key.did_key()}")


def verify_signature(key: PublicKey, message: bytes, signature: bytes) -> Verdict:
    """:func:`check_signature` as a :class:`Verdict`."""
    try:
        check_signature(key, message, signature)
    except SignatureError as exc:
        return from_error(exc)
    return VALID


# -- commits ------------------------------------------------------------------------------------


def unsigned_commit(commit: Mapping[str, Any]) -> bytes:
    """The DAG-CBOR of a decoded commit object without its ``sig``: the bytes that were signed.

    Every other field is kept as it is, so fields this package does not know still count.
    """
    try:
        return dagcbor.encode({name: value for name, value in commit.items() if name != "sig"})
    except EncodeError as exc:
        raise SignatureError(COMMIT_MALFORMED, f"commit cannot be re-encoded: {exc}") from None


def sign_commit(commit: Mapping[str, Any], key: PrivateKey) -> dict[str, Any]:
    """``commit`` (without or with a ``sig``) with a fresh ``sig`` by ``key``."""
    signed = {name: value for name, value in commit.items() if name != "sig"}
    signed["sig"] = key.sign(unsigned_commit(signed))
    return signed


def verify_commit_signature(commit: Mapping[str, Any], key: PublicKey) -> Verdict:
    """Whether the decoded commit object ``commit`` (a v3 commit with ``sig``) is signed by ``key``.

    Reasons: :data:`COMMIT_MALFORMED`, :data:`SIGNATURE_FORMAT`, :data:`SIGNATURE_HIGH_S`,
    :data:`SIGNATURE_INVALID`.
    """
    if not isinstance(commit, Mapping):
        return failed(COMMIT_MALFORMED, f"a commit must be a map, not {type(commit).__name__}")
    sig = commit.get("sig")
    if type(sig) is not bytes:
        return failed(COMMIT_MALFORMED, "commit has no byte-string 'sig'")
    try:
        check_signature(key, unsigned_commit(commit), sig)
    except SignatureError as exc:
        return from_error(exc)
    return VALID
