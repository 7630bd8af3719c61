import stat
from pathlib import Path

from waymark_gateway.main import jwks_document, load_or_create_signing_key
from waymark_kernel.settings import Settings


def test_the_signing_key_is_created_private_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")

    created = load_or_create_signing_key(settings)
    loaded = load_or_create_signing_key(settings)

    key_file = tmp_path / "var" / "gateway-signing-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert loaded.kid == created.kid
    assert [path.name for path in key_file.parent.iterdir()] == [key_file.name]


def test_the_signing_key_file_setting_names_the_key(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path / "var", signing_key_file=tmp_path / "keys" / "issuer.pem"
    )

    key = load_or_create_signing_key(settings)

    assert (tmp_path / "keys" / "issuer.pem").exists()
    assert not (tmp_path / "var").exists()
    assert jwks_document([key]) == {"keys": [key.jwk()]}
