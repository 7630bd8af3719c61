import base64
import os

import pytest

from waymark_kernel.settings import RunMode, Settings
from waymark_referrals.crypto import EnvelopeCipher, KeyUnavailable, Sealed
from waymark_referrals.main import create_app


def test_a_sealed_record_opens_only_with_its_key_and_in_its_own_row() -> None:
    cipher = EnvelopeCipher(os.urandom(32))
    sealed = cipher.seal({"given_name": "Sunita"}, record="case-1")
    assert b"Sunita" not in sealed.ciphertext
    assert len(sealed.key_id) == 8
    assert cipher.open(sealed, record="case-1") == {"given_name": "Sunita"}
    assert cipher.seal({"given_name": "Sunita"}, record="case-1").wrapped_key != sealed.wrapped_key
    with pytest.raises(KeyUnavailable):
        cipher.open(sealed, record="case-2")
    with pytest.raises(KeyUnavailable):
        cipher.open(Sealed(sealed.key_id, sealed.wrapped_key, sealed.ciphertext[:-1] + b"\0"),
                    record="case-1")
    with pytest.raises(KeyUnavailable):
        EnvelopeCipher(os.urandom(32)).open(sealed, record="case-1")


@pytest.mark.parametrize(("key", "message"), [
    (None, "WAYMARK_ENCRYPTION_KEY is required"),
    ("not base64!", "not valid base64"),
    (base64.b64encode(bytes(range(16))).decode(), "must decode to 32 bytes"),
])
def test_the_service_refuses_to_start_without_a_usable_key(key: str | None, message: str) -> None:
    with pytest.raises(RuntimeError, match=message):
        create_app(Settings(mode=RunMode.distributed, encryption_key=key))


def test_a_record_sealed_by_the_previous_code_still_opens() -> None:
    # Sealed under bytes 0 to 31 by the code before the kernel's sealing box.
    sealed = Sealed(
        "630dcd29",
        bytes.fromhex(
            "e0eff888fb3b6195dcc83c2c1baa865fe802d678704d2fa9686e139073614a8fa4336e95b1a0715ebd"
            "d0ebbe37312f1394c09811245bb3e769e13477"
        ),
        bytes.fromhex(
            "17ace47be5feefbe6858bde54b2f5268e889cebf93e7590ac6fe3267b02227c804061f7773b30e9010"
            "faa8aeaa75a1ec01ad60"
        ),
    )
    assert EnvelopeCipher(bytes(range(32))).open(sealed, record="referral:1") == {
        "name": "Amina Haddad"
    }
