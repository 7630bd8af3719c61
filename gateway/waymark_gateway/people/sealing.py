"""People's personal data at rest: sealed with AES-256-GCM under a key derived from the
deployment's key-encryption key, bound to its record and field so sealed values cannot be
swapped; looked up by keyed fingerprints (HMAC-SHA256), never by the clear value."""

import hashlib
import hmac

from waymark_kernel.sealing import InvalidTag, SealingBox, derived_key, key_encryption_key


class PersonalDataBox:
    def __init__(self, encryption_key: str | None) -> None:
        master = key_encryption_key(
            encryption_key, sealed="people's names, emails and second factors"
        )
        self._box = SealingBox(derived_key(master, b"waymark gateway: people v1"))
        self._fingerprint_key = derived_key(master, b"waymark gateway: fingerprints v1")

    def seal(self, text: str, context: str) -> bytes:
        return self._box.seal(text.encode(), context.encode())

    def open(self, sealed: bytes, context: str) -> str:
        try:
            return self._box.open(sealed, context.encode()).decode()
        except InvalidTag as exc:
            raise RuntimeError("a person's sealed data cannot be opened with this key") from exc

    def fingerprint(self, text: str) -> str:
        """A stable keyed hash: equal texts match, and a stolen table cannot be dictionary-searched."""
        return hmac.new(self._fingerprint_key, text.encode(), hashlib.sha256).hexdigest()


def token_hash(token: str) -> str:
    """Random high-entropy tokens (invitations, sessions) are kept only as their SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()
