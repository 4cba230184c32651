"""AT Protocol wire formats: DAG-CBOR, CIDs, CAR, MST, repository commits, event-stream
frames and identifier syntax; and their verification: keys and signatures, DID document keys,
commit proofs (MST inversion) and revision chains. Pure functions over bytes and values; no I/O.
"""

from supervisor.atproto.cid import CID, DAG_CBOR, RAW, SHA2_256
from supervisor.atproto.errors import AtprotoError, DecodeError, EncodeError

__all__ = ["AtprotoError", "DecodeError", "EncodeError", "CID", "DAG_CBOR", "RAW", "SHA2_256"]
