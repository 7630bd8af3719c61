"""Ed25519 signing keys and their JWK form, used by the built-in issuer and by tests."""

import base64
import hashlib
import time
import uuid
from dataclasses import dataclass
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from waymark_kernel.auth import ALGORITHM


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    private_key: Ed25519PrivateKey

    @classmethod
    def generate(cls) -> "SigningKey":
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_pem(cls, pem: bytes) -> "SigningKey":
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the signing key must be Ed25519")
        return cls(key)

    def to_pem(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def public_bytes(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def kid(self) -> str:
        return _b64url(hashlib.sha256(self.public_bytes).digest()[:12])

    def jwk(self) -> dict[str, Any]:
        return {
            "kty": "OKP", "crv": "Ed25519", "x": _b64url(self.public_bytes),
            "kid": self.kid, "alg": ALGORITHM, "use": "sig",
        }

    def issue(
        self, *, subject: str, organization_id: uuid.UUID | None, roles: list[str], issuer: str,
        audience: str, ttl_seconds: int, kind: str = "client", name: str | None = None,
        amr: list[str] | None = None, session: str | None = None,
    ) -> str:
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": issuer, "aud": audience, "sub": subject, "iat": now, "nbf": now,
            "exp": now + ttl_seconds, "jti": uuid.uuid4().hex, "roles": roles,
            "org": str(organization_id) if organization_id else None, "kind": kind,
        }
        if name is not None:
            claims["name"] = name
        if amr:
            claims["amr"] = amr
        if session is not None:
            claims["sid"] = session
        return jwt.encode(claims, self.private_key, algorithm=ALGORITHM, headers={"kid": self.kid})
