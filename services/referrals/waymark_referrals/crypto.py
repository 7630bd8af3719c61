"""Envelope encryption of personal data at rest.

Each record gets a random 256-bit data key; the document is sealed with AES-256-GCM under it,
and the data key is wrapped (AES-256-GCM too) under the key-encryption key (KEK) from
`settings.encryption_key`. Records keep the KEK's `key_id`, so a rotation can re-wrap them:
older KEKs stay in `settings.encryption_previous_keys` until no record names them.
The record's own id is bound in as associated data: a ciphertext moved to another row fails.
"""

import base64
import binascii
import hashlib
import hmac
import json
import os
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import LargeBinary
from sqlmodel import Field, SQLModel

from waymark_kernel.sealing import KEY_BYTES, InvalidTag, SealingBox
from waymark_kernel.settings import Settings


class KeyUnavailable(RuntimeError):
    """A record was sealed under a key-encryption key this process does not hold."""


@dataclass(frozen=True)
class Sealed:
    key_id: str
    wrapped_key: bytes
    ciphertext: bytes


def key_id_of(key_encryption_key: bytes) -> str:
    return hashlib.sha256(key_encryption_key).hexdigest()[:8]


class EnvelopeCipher:
    def __init__(
        self, key_encryption_key: bytes, previous_keys: tuple[bytes, ...] = ()
    ) -> None:
        if any(len(key) != KEY_BYTES for key in (key_encryption_key, *previous_keys)):
            raise ValueError("a key-encryption key must be 32 bytes")
        self._key_encryption_key = key_encryption_key
        self.key_id = key_id_of(key_encryption_key)
        self._boxes = {key_id_of(key): SealingBox(key) for key in previous_keys} | {
            self.key_id: SealingBox(key_encryption_key)
        }

    def seal(self, document: dict[str, Any], *, record: str) -> Sealed:
        data_key = os.urandom(KEY_BYTES)
        associated = record.encode()
        plaintext = json.dumps(document, separators=(",", ":")).encode()
        return Sealed(
            key_id=self.key_id,
            wrapped_key=self._boxes[self.key_id].seal(data_key, associated),
            ciphertext=SealingBox(data_key).seal(plaintext, associated),
        )

    def derived_key(self, purpose: str) -> bytes:
        """A key of its own for `purpose` (a keyed hash), derived from the current KEK."""
        return hmac.new(self._key_encryption_key, purpose.encode(), hashlib.sha256).digest()

    @property
    def previous_key_ids(self) -> list[str]:
        return [key_id for key_id in self._boxes if key_id != self.key_id]

    def _data_key(self, sealed: Sealed, associated: bytes) -> bytes:
        if sealed.key_id not in self._boxes:
            raise KeyUnavailable(f"record sealed under key {sealed.key_id}, which is not configured")
        return self._boxes[sealed.key_id].open(sealed.wrapped_key, associated)

    def open(self, sealed: Sealed, *, record: str) -> dict[str, Any]:
        associated = record.encode()
        try:
            data_key = self._data_key(sealed, associated)
            document: dict[str, Any] = json.loads(
                SealingBox(data_key).open(sealed.ciphertext, associated)
            )
            return document
        except InvalidTag as exc:
            raise KeyUnavailable("the record does not open with its key (tampered, moved)") from exc

    def rewrap(self, sealed: Sealed, *, record: str) -> Sealed:
        """The same ciphertext, its data key wrapped under the current key-encryption key."""
        associated = record.encode()
        try:
            data_key = self._data_key(sealed, associated)
        except InvalidTag as exc:
            raise KeyUnavailable("the data key does not unwrap (tampered, moved)") from exc
        return Sealed(
            self.key_id, self._boxes[self.key_id].seal(data_key, associated), sealed.ciphertext
        )


def cipher_from_settings(settings: Settings) -> EnvelopeCipher:
    """Refuses to start without a usable key: personal data is never stored in the clear."""
    if not settings.encryption_key:
        raise RuntimeError(
            "WAYMARK_ENCRYPTION_KEY is required: the base64 of 32 random bytes, e.g. from "
            "`python -c \"import base64, os; print(base64.b64encode(os.urandom(32)).decode())\"`"
        )
    return EnvelopeCipher(
        _decoded(settings.encryption_key, "WAYMARK_ENCRYPTION_KEY"),
        tuple(
            _decoded(key, "WAYMARK_ENCRYPTION_PREVIOUS_KEYS")
            for key in settings.encryption_previous_keys
        ),
    )


def _decoded(key: str, setting: str) -> bytes:
    try:
        decoded = base64.b64decode(key, validate=True)
    except binascii.Error as exc:
        raise RuntimeError(f"{setting} is not valid base64") from exc
    if len(decoded) != KEY_BYTES:
        raise RuntimeError(f"{setting} must decode to 32 bytes, not {len(decoded)}")
    return decoded


async def _cipher(request: Request) -> EnvelopeCipher:  # async: FastAPI runs sync ones in a thread
    cipher: EnvelopeCipher = request.app.state.cipher
    return cipher


CipherDep = Annotated[EnvelopeCipher, Depends(_cipher)]


class SealedColumns(SQLModel):
    """The columns of a table that holds one sealed document per row."""

    key_id: str = Field(max_length=8)
    wrapped_key: bytes = Field(sa_type=LargeBinary)
    ciphertext: bytes = Field(sa_type=LargeBinary)

    @property
    def sealed(self) -> Sealed:
        return Sealed(self.key_id, self.wrapped_key, self.ciphertext)

    def store(self, sealed: Sealed) -> None:
        self.key_id, self.wrapped_key, self.ciphertext = (
            sealed.key_id, sealed.wrapped_key, sealed.ciphertext
        )


class ErasableSealedColumns(SQLModel):
    """Sealed columns that are empty where there is nothing to seal or the text was erased
    (the row itself stays: who did what, when)."""

    key_id: str | None = Field(default=None, max_length=8)
    wrapped_key: bytes | None = Field(default=None, sa_type=LargeBinary)
    ciphertext: bytes | None = Field(default=None, sa_type=LargeBinary)

    @property
    def sealed(self) -> Sealed | None:
        """The sealed document; None where the columns are empty."""
        if self.key_id is None or self.wrapped_key is None or self.ciphertext is None:
            return None
        return Sealed(self.key_id, self.wrapped_key, self.ciphertext)

    def store(self, sealed: Sealed | None) -> None:
        """Fills the columns with the sealed document, or empties them with None."""
        self.key_id, self.wrapped_key, self.ciphertext = (
            (None, None, None) if sealed is None
            else (sealed.key_id, sealed.wrapped_key, sealed.ciphertext)
        )

    def opened(self, cipher: EnvelopeCipher, *, record: str) -> dict[str, Any]:
        """The sealed document, or an empty one where there is none."""
        sealed = self.sealed
        return {} if sealed is None else cipher.open(sealed, record=record)

    def store_sealed(self, cipher: EnvelopeCipher, document: dict[str, Any], *, record: str) -> None:
        """Seals the document, or empties the columns when it holds no value."""
        has_value = any(value is not None for value in document.values())
        self.store(cipher.seal(document, record=record) if has_value else None)
