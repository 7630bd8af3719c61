import base64

import pytest

from waymark_kernel.sealing import InvalidTag, SealingBox, derived_key, key_encryption_key

KEY = bytes(range(32))


def test_a_sealed_value_is_a_fresh_nonce_then_the_ciphertext_and_its_tag() -> None:
    box = SealingBox(KEY)
    first, second = box.seal(b"Amina", b"person:1:name"), box.seal(b"Amina", b"person:1:name")
    assert len(first) == 12 + len(b"Amina") + 16 and b"Amina" not in first
    assert first[:12] != second[:12]
    assert box.open(first, b"person:1:name") == box.open(second, b"person:1:name") == b"Amina"


def test_a_sealed_value_opens_only_under_its_key_and_associated_data() -> None:
    sealed = SealingBox(KEY).seal(b"Amina", b"person:1:name")
    with pytest.raises(InvalidTag):
        SealingBox(KEY).open(sealed, b"person:2:name")
    with pytest.raises(InvalidTag):
        SealingBox(bytes(32)).open(sealed, b"person:1:name")
    with pytest.raises(InvalidTag):
        SealingBox(KEY).open(sealed[:-1] + bytes([sealed[-1] ^ 1]), b"person:1:name")


def test_each_purpose_gets_a_key_of_its_own() -> None:
    people, secrets = derived_key(KEY, b"people v1"), derived_key(KEY, b"secrets v1")
    assert len(people) == 32 and people != secrets and people == derived_key(KEY, b"people v1")


@pytest.mark.parametrize("setting, message", [
    (None, "WAYMARK_ENCRYPTION_KEY is required: webhook secrets are stored encrypted"),
    ("", "WAYMARK_ENCRYPTION_KEY is required"),
    ("not base64!", "must be base64"),
    (base64.b64encode(bytes(16)).decode(), "at least 32 bytes"),
])
def test_an_unusable_key_encryption_key_is_refused_naming_what_it_protects(
    setting: str | None, message: str
) -> None:
    with pytest.raises(RuntimeError, match=message):
        key_encryption_key(setting, sealed="webhook secrets")


def test_the_key_encryption_key_is_the_settings_value_decoded() -> None:
    assert key_encryption_key(base64.b64encode(KEY).decode(), sealed="x") == KEY
