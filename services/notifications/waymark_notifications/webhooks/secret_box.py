"""Webhook secrets are stored encrypted (AES-256-GCM) under a key derived from the
deployment's key-encryption key, bound to their subscription so rows cannot be swapped."""

import base64
import binascii
import os
import uuid

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

NONCE_BYTES = 12
KEY_PURPOSE = b"waymark notifications: webhook secrets v1"


class SecretBox:
    def __init__(self, encryption_key: str | None) -> None:
        if not encryption_key:
            raise RuntimeError(
                "WAYMARK_ENCRYPTION_KEY is required: webhook secrets are stored encrypted "
                "(the waymark command generates one into the data folder for run and up)"
            )
        try:
            master = base64.b64decode(encryption_key, validate=True)
        except binascii.Error as exc:
            raise RuntimeError("WAYMARK_ENCRYPTION_KEY must be base64") from exc
        if len(master) < 32:
            raise RuntimeError("WAYMARK_ENCRYPTION_KEY must hold at least 32 bytes")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=KEY_PURPOSE).derive(master)
        self._aead = AESGCM(key)

    def seal(self, secret: str, subscription_id: uuid.UUID) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), subscription_id.bytes)
        return base64.b64encode(nonce + sealed).decode()

    def open(self, sealed: str, subscription_id: uuid.UUID) -> str:
        raw = base64.b64decode(sealed)
        nonce, ciphertext = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
        try:
            return self._aead.decrypt(nonce, ciphertext, subscription_id.bytes).decode()
        except InvalidTag as exc:
            raise RuntimeError("a webhook secret cannot be decrypted with this key") from exc
