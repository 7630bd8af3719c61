"""Standard Webhooks: secrets `whsec_` + base64, signatures `v1,` + base64 HMAC-SHA256."""

import base64
import hashlib
import hmac
import secrets

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def generate_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def signature(secret: str, webhook_id: str, timestamp: int, body: str) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signature_header(secrets_in_use: list[str], webhook_id: str, timestamp: int, body: str) -> str:
    """One signature per secret in use (two while a rotated-out secret is still honoured)."""
    return " ".join(signature(secret, webhook_id, timestamp, body) for secret in secrets_in_use)
