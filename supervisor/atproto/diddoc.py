"""What atproto reads from a DID document: the repository signing key and the PDS endpoint.

Pure functions over the decoded JSON document (a dict). The signing key is the verification
method whose id is ``#atproto`` (relative, or the document's DID + ``#atproto``); the PDS is
the service ``#atproto_pds`` of type ``AtprotoPersonalDataServer``.
"""

from __future__ import annotations

from typing import Any, Mapping
from urllib.parse import urlsplit

from supervisor.atproto.crypto import CURVES, PublicKey, parse_legacy_multibase, parse_multikey
from supervisor.atproto.errors import DidDocumentError, KeyFormatError, NoAtprotoKeyError, NoPdsEndpointError

__all__ = ["atproto_key", "atproto_key_multibase", "pds_endpoint", "ATPROTO_KEY_ID", "ATPROTO_PDS_ID", "PDS_TYPE"]

ATPROTO_KEY_ID = "#atproto"
ATPROTO_PDS_ID = "#atproto_pds"
PDS_TYPE = "AtprotoPersonalDataServer"
_MULTIKEY = "Multikey"
_LEGACY_TYPES = {curve.legacy_suite: curve for curve in CURVES.values()}


def _document(doc: Any) -> tuple[Mapping[str, Any], str]:
    if not isinstance(doc, Mapping):
        raise DidDocumentError(f"a DID document must be a JSON object, not {type(doc).__name__}")
    did = doc.get("id")
    if type(did) is not str or not did.startswith("did:"):
        raise DidDocumentError("DID document has no string 'id' naming a DID")
    return doc, did


def _find(doc: Mapping[str, Any], did: str, field: str, fragment: str) -> Mapping[str, Any] | None:
    entries = doc.get(field, [])
    if not isinstance(entries, list):
        raise DidDocumentError(f"DID document '{field}' must be a list")
    for entry in entries:
        if isinstance(entry, Mapping) and entry.get("id") in (fragment, did + fragment):
            return entry
    return None


def _method(doc: Any) -> tuple[Mapping[str, Any], str]:
    doc, did = _document(doc)
    method = _find(doc, did, "verificationMethod", ATPROTO_KEY_ID)
    if method is None:
        raise NoAtprotoKeyError(f"DID document of {did} has no '{ATPROTO_KEY_ID}' verification method")
    return method, did


def atproto_key_multibase(doc: Any) -> str:
    """The ``publicKeyMultibase`` of the ``#atproto`` verification method, as written."""
    method, did = _method(doc)
    value = method.get("publicKeyMultibase")
    if type(value) is not str:
        raise DidDocumentError(f"DID document of {did}: '{ATPROTO_KEY_ID}' has no string 'publicKeyMultibase'")
    return value


def atproto_key(doc: Any) -> PublicKey:
    """The repository signing key of the account that ``doc`` describes.

    ``Multikey`` methods carry a multicodec prefix; the older ``EcdsaSecp256k1VerificationKey2019``
    and ``EcdsaSecp256r1VerificationKey2019`` types carry the bare point, the curve named by the type.
    Raises :class:`NoAtprotoKeyError` or :class:`DidDocumentError`.
    """
    method, did = _method(doc)
    value = atproto_key_multibase(doc)
    kind = method.get("type")
    try:
        if kind == _MULTIKEY:
            return parse_multikey(value)
        curve = _LEGACY_TYPES.get(kind) if type(kind) is str else None
        if curve is None:
            raise DidDocumentError(f"DID document of {did}: '{ATPROTO_KEY_ID}' has unsupported type {kind!r}")
        return parse_legacy_multibase(value, curve)
    except KeyFormatError as exc:
        raise DidDocumentError(f"DID document of {did}: '{ATPROTO_KEY_ID}' key: {exc}") from None


def pds_endpoint(doc: Any) -> str:
    """The ``serviceEndpoint`` URL of the ``#atproto_pds`` service (``https://host[:port]``).

    Raises :class:`NoPdsEndpointError` or :class:`DidDocumentError`.
    """
    doc, did = _document(doc)
    service = _find(doc, did, "service", ATPROTO_PDS_ID)
    if service is None:
        raise NoPdsEndpointError(f"DID document of {did} has no '{ATPROTO_PDS_ID}' service")
    if service.get("type") != PDS_TYPE:
        raise DidDocumentError(f"DID document of {did}: '{ATPROTO_PDS_ID}' is not of type {PDS_TYPE}")
    endpoint = service.get("serviceEndpoint")
    if type(endpoint) is not str:
        raise DidDocumentError(f"DID document of {did}: '{ATPROTO_PDS_ID}' has no string 'serviceEndpoint'")
    try:
        parts = urlsplit(endpoint)
        parts.port  # noqa: B018 - raises on a malformed port
    except ValueError:
        raise DidDocumentError(f"DID document of {did}: PDS endpoint {endpoint!r} is not a URL") from None
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
        raise DidDocumentError(f"DID document of {did}: PDS endpoint {endpoint!r} must be an http(s) URL of a host")
    return endpoint.rstrip("/")
