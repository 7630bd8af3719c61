"""The built-in issuer's signing key, kept in a file, and its public keys as a JWKS document."""

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from waymark_kernel.files import create_private_folder
from waymark_kernel.settings import Settings
from waymark_kernel.signing import SigningKey

DEFAULT_KEY_FILE = "gateway-signing-key.pem"


def signing_key_path(settings: Settings) -> Path:
    return settings.signing_key_file or settings.data_dir / DEFAULT_KEY_FILE


def load_or_create_signing_key(settings: Settings) -> SigningKey:
    """The key in `signing_key_file` (or DATA_DIR/gateway-signing-key.pem), created if missing."""
    path = signing_key_path(settings)
    if not path.exists():
        _create_key_file(path)
    return SigningKey.from_pem(path.read_bytes())


def _create_key_file(path: Path) -> None:
    create_private_folder(path.parent)
    descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")  # mode 0600
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(SigningKey.generate().to_pem())
        # A hard link never replaces an existing file: two processes starting together keep one key.
        os.link(temporary, path)
    except FileExistsError:
        pass
    finally:
        os.unlink(temporary)


def jwks_document(keys: Iterable[SigningKey]) -> dict[str, Any]:
    """The public half of `keys` as a JSON Web Key Set (RFC 7517)."""
    return {"keys": [key.jwk() for key in keys]}
