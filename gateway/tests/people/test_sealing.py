"""People's data sealed before the sealing moved to the kernel still opens: the format is kept."""

import pytest

from waymark_gateway.people.sealing import PersonalDataBox

KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # bytes 0 to 31
# Sealed with the same key by the previous code (its own AES-GCM and HKDF calls).
SEALED_NAME = bytes.fromhex(
    "01025f683bffb3d02e8e072d8966eac1093aaac865b5b44319dda49e47da8ea334966055802f1186"
)
FINGERPRINT = "ec8641e150363b4ea44fcea4a4f1a945f792ebe7451754a60659ef163489781a"


def test_a_name_sealed_by_the_previous_code_opens_in_its_own_field_only() -> None:
    box = PersonalDataBox(KEY)
    assert box.open(SEALED_NAME, "person:7c1d:name") == "Amina Haddad"
    with pytest.raises(RuntimeError, match="cannot be opened"):
        box.open(SEALED_NAME, "person:7c1d:email")


def test_fingerprints_match_those_stored_by_the_previous_code() -> None:
    assert PersonalDataBox(KEY).fingerprint("amina@example.org") == FINGERPRINT


def test_a_new_seal_opens_again() -> None:
    box = PersonalDataBox(KEY)
    assert box.open(box.seal("Ana", "person:1:name"), "person:1:name") == "Ana"
