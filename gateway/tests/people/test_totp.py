"""TOTP as authenticator apps compute it: RFC 6238's own test values, the drift window, a code
used once, and the otpauth URI the apps read."""

import base64
from urllib.parse import parse_qs, unquote, urlsplit

import pytest

from waymark_gateway.people import totp

# RFC 6238, appendix B: the SHA-1 key and, per time, the 8-digit codes (apps show the last 6).
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode()
RFC_CODES = {
    59: "94287082", 1111111109: "07081804", 1111111111: "14050471", 1234567890: "89005924",
    2000000000: "69279037", 20000000000: "65353130",
}


@pytest.mark.parametrize(("seconds", "code"), RFC_CODES.items())
def test_codes_are_those_of_rfc_6238(seconds: int, code: str) -> None:
    assert totp.code_at(RFC_SECRET, totp.current_step(seconds)) == code[-6:]
    assert totp.matching_step(RFC_SECRET, code[-6:], last_used_step=None, now=seconds) == (
        seconds // 30)


def test_a_code_is_good_for_one_step_either_side_and_once() -> None:
    now = 1111111111.0
    step = totp.current_step(now)
    for drift in (-1, 0, 1):
        code = totp.code_at(RFC_SECRET, step + drift)
        assert totp.matching_step(RFC_SECRET, code, last_used_step=None, now=now) == step + drift
        assert totp.matching_step(RFC_SECRET, code, last_used_step=step + drift, now=now) is None
    for far in (-2, 2):
        code = totp.code_at(RFC_SECRET, step + far)
        assert totp.matching_step(RFC_SECRET, code, last_used_step=None, now=now) is None
    arabic_indic_digits = "\u0660\u0665\u0660\u0664\u0667\u0661"  # isdigit(), yet no code
    for malformed in ("", "05047", "0504711", "o50471", arabic_indic_digits):
        assert totp.matching_step(RFC_SECRET, malformed, last_used_step=None, now=now) is None


def test_the_otpauth_uri_is_the_one_authenticator_apps_read() -> None:
    secret = totp.new_secret()
    assert len(base64.b32decode(secret + "=" * (-len(secret) % 8))) == 20
    uri = urlsplit(totp.otpauth_uri(secret, account="amina@example.org", issuer="Waymark"))
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert unquote(uri.path) == "/Waymark:amina@example.org"
    assert {name: values[0] for name, values in parse_qs(uri.query).items()} == {
        "secret": secret, "issuer": "Waymark", "algorithm": "SHA1", "digits": "6",
        "period": "30",
    }
