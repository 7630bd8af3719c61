"""Webhook secrets sealed before the sealing moved to the kernel still open: the format is kept."""

import uuid

import pytest
from waymark_notifications.webhooks.secret_box import SecretBox

KEY = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="  # bytes 0 to 31
SUBSCRIPTION = uuid.UUID("5a0c1f3e-0000-4000-8000-000000000001")
# Sealed with the same key by the previous code (its own AES-GCM and HKDF calls).
SEALED_SECRET = (
    "uABB/Indnd/o+LncaXFmix1SpmF5TX3KDxx3yaU8OCq2zk4m50GSsWJga1oAny/woG2a2vwJrQCyigO01+gvcVd5"
)


def test_a_secret_sealed_by_the_previous_code_opens_for_its_subscription_only() -> None:
    box = SecretBox(KEY)
    assert box.open(SEALED_SECRET, SUBSCRIPTION) == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    with pytest.raises(RuntimeError, match="cannot be decrypted"):
        box.open(SEALED_SECRET, uuid.uuid4())


def test_without_a_key_the_service_cannot_keep_secrets() -> None:
    with pytest.raises(RuntimeError, match="webhook secrets are stored encrypted"):
        SecretBox(None)
