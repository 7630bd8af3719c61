"""Values sealed at rest with AES-256-GCM: a fresh 96-bit nonce followed by the ciphertext and
its tag, bound by associated data to the record (and field) they belong to, so that a sealed
value moved to another row does not open. Keys of their own for each use are derived from the
deployment's key-encryption key (WAYMARK_ENCRYPTION_KEY)."""

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
KEY_BYTES = 32

__all__ = ["KEY_BYTES", "InvalidTag", "SealingBox", "derived_key", "key_encryption_key"]


class SealingBox:
    """Seals and opens under one 256-bit key; `open` raises InvalidTag for a value sealed
    under another key or other associated data, or altered."""

    def __init__(self, key: bytes) -> None:
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, associated: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, plaintext, associated)

    def open(self, sealed: bytes, associated: bytes) -> bytes:
        return self._aead.decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], associated)


def derived_key(master: bytes, purpose: bytes) -> bytes:
    """A 256-bit key of its own for `purpose` (HKDF-SHA256, no salt)."""
    return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=purpose).derive(master)


def key_encryption_key(encryption_key: str | None, *, sealed: str) -> bytes:
    """WAYMARK_ENCRYPTION_KEY decoded; a part refuses to start without a usable one, naming
    what it keeps `sealed` ("webhook secrets")."""
    if not encryption_key:
        raise RuntimeError(
            f"WAYMARK_ENCRYPTION_KEY is required: {sealed} are stored encrypted (the waymark "
            "command generates one into the data folder for run and up)"
        )
    try:
        master = base64.b64decode(encryption_key, validate=True)
    except binascii.Error as exc:
        raise RuntimeError("WAYMARK_ENCRYPTION_KEY must be base64") from exc
    if len(master) < KEY_BYTES:
        raise RuntimeError(f"WAYMARK_ENCRYPTION_KEY must hold at least {KEY_BYTES} bytes")
    return master
