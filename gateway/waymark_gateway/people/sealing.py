"""People's personal data at rest: sealed with AES-256-GCM under a key derived from the
deployment's key-encryption key, bound to its record and field so sealed values cannot be
swapped; looked up by keyed fingerprints (HMAC-SHA256), never by the clear value."""

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12


def _derive(master: bytes, purpose: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose).derive(master)


class PersonalDataBox:
    def __init__(self, encryption_key: str | None) -> None:
        if not encryption_key:
            raise RuntimeError(
                "WAYMARK_ENCRYPTION_KEY is required: people's names, emails and second factors "
                "are stored encrypted (the waymark command generates one into the data folder "
                "for run and up)"
            )
        try:
            master = base64.b64decode(encryption_key, validate=True)
        except binascii.Error as exc:
            raise RuntimeError("WAYMARK_ENCRYPTION_KEY must be base64") from exc
        if len(master) < 32:
            raise RuntimeError("WAYMARK_ENCRYPTION_KEY must hold at least 32 bytes")
        self._aead = AESGCM(_derive(master, b"waymark gateway: people v1"))
        self._fingerprint_key = _derive(master, b"waymark gateway: fingerprints v1")

    def seal(self, text: str, context: str) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return nonce + self._aead.encrypt(nonce, text.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str:
        try:
            return self._aead.decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], context.encode()
            ).decode()
        except InvalidTag as exc:
            raise RuntimeError("a person's sealed data cannot be opened with this key") from exc

    def fingerprint(self, text: str) -> str:
        """A stable keyed hash: equal texts match, and a stolen table cannot be dictionary-searched."""
        return hmac.new(self._fingerprint_key, text.encode(), hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    """Random high-entropy tokens (invitations, sessions) are kept only as their SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()
