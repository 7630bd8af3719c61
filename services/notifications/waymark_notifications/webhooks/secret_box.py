"""Webhook secrets are stored encrypted (AES-256-GCM) under a key derived from the
deployment's key-encryption key, bound to their subscription so rows cannot be swapped."""

import base64
import uuid

from waymark_kernel.sealing import InvalidTag, SealingBox, derived_key, key_encryption_key

KEY_PURPOSE = b"waymark notifications: webhook secrets v1"


class SecretBox:
    def __init__(self, encryption_key: str | None) -> None:
        master = key_encryption_key(encryption_key, sealed="webhook secrets")
        self._box = SealingBox(derived_key(master, KEY_PURPOSE))

    def seal(self, secret: str, subscription_id: uuid.UUID) -> str:
        return base64.b64encode(self._box.seal(secret.encode(), subscription_id.bytes)).decode()

    def open(self, sealed: str, subscription_id: uuid.UUID) -> str:
        try:
            return self._box.open(base64.b64decode(sealed), subscription_id.bytes).decode()
        except InvalidTag as exc:
            raise RuntimeError("a webhook secret cannot be decrypted with this key") from exc
