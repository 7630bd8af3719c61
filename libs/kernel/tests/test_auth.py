"""TokenVerifier accepts only unexpired EdDSA tokens of the published keys, for our audience."""

import time
import uuid
from typing import Any

import jwt
import pytest

from waymark_kernel.auth import CASEWORKER, ORG_ADMIN, Identity, TokenVerifier, Unauthenticated
from waymark_kernel.problems import Problem
from waymark_kernel.signing import SigningKey
from waymark_kernel.testing import AUDIENCE, ISSUER, TestIssuer

ORGANIZATION = uuid.uuid4()


@pytest.fixture
def issuer() -> TestIssuer:
    return TestIssuer()


@pytest.fixture
def verifier(issuer: TestIssuer) -> TokenVerifier:
    return TokenVerifier(issuer.key_source, issuer=ISSUER, audience=AUDIENCE)


def claims(**changes: Any) -> dict[str, Any]:
    now = int(time.time())
    payload = {
        "iss": ISSUER, "aud": AUDIENCE, "sub": "client-1", "iat": now, "nbf": now,
        "exp": now + 600, "org": str(ORGANIZATION), "roles": [CASEWORKER],
    }
    payload.update(changes)
    return {name: value for name, value in payload.items() if value is not None}


async def rejection(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(Unauthenticated) as raised:
        await verifier.verify(token)
    assert raised.value.status == 401
    assert raised.value.headers["WWW-Authenticate"].startswith("Bearer")
    return raised.value.detail


async def test_a_valid_token_gives_its_identity(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    identity = await verifier.verify(issuer.token(ORGANIZATION, ORG_ADMIN, CASEWORKER))

    assert identity.organization_id == ORGANIZATION
    assert identity.roles == {ORG_ADMIN, CASEWORKER}
    assert identity.is_admin_of(ORGANIZATION)
    assert not identity.is_admin_of(uuid.uuid4())
    assert identity.can_write_cases
    assert not identity.is_network_admin


async def test_unknown_roles_are_dropped(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    token = jwt.encode(
        claims(roles=[CASEWORKER, "superuser"]), issuer.key.private_key, algorithm="EdDSA",
        headers={"kid": issuer.key.kid},
    )

    assert await verifier.verify(token) == Identity(
        "client-1", ORGANIZATION, frozenset({CASEWORKER})
    )


async def test_an_expired_token_is_rejected(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    token = issuer.token(ORGANIZATION, CASEWORKER, ttl_seconds=-60)

    assert await rejection(verifier, token) == "The token has expired."


async def test_an_unsigned_alg_none_token_is_rejected(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    token = jwt.encode(claims(), "", algorithm="none", headers={"kid": issuer.key.kid})

    assert await rejection(verifier, token) == "The token's algorithm or key id is not accepted."


async def test_an_hmac_token_keyed_with_the_public_key_is_rejected(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    token = jwt.encode(
        claims(), issuer.key.public_bytes, algorithm="HS256", headers={"kid": issuer.key.kid}
    )

    assert await rejection(verifier, token) == "The token's algorithm or key id is not accepted."


async def test_a_token_signed_by_an_unknown_key_is_rejected(verifier: TokenVerifier) -> None:
    stranger = SigningKey.generate()
    token = stranger.issue(
        subject="client-1", organization_id=ORGANIZATION, roles=[CASEWORKER], issuer=ISSUER,
        audience=AUDIENCE, ttl_seconds=600,
    )

    assert await rejection(verifier, token) == (
        "The token is signed with a key the issuer never published."
    )


async def test_a_token_naming_the_published_key_but_signed_by_another_is_rejected(issuer: TestIssuer, verifier: TokenVerifier) -> None:
    forger = SigningKey.generate()
    token = jwt.encode(
        claims(), forger.private_key, algorithm="EdDSA", headers={"kid": issuer.key.kid}
    )

    assert await rejection(verifier, token) == "The token is not valid."


@pytest.mark.parametrize("changes", [
    {"aud": "another-api"},
    {"iss": "https://issuer.example"},
    {"exp": None},
    {"sub": None},
    {"nbf": int(time.time()) + 3600},
])
async def test_a_token_with_wrong_or_missing_claims_is_rejected(issuer: TestIssuer, verifier: TokenVerifier, changes: dict[str, Any]) -> None:
    token = jwt.encode(
        claims(**changes), issuer.key.private_key, algorithm="EdDSA",
        headers={"kid": issuer.key.kid},
    )

    assert await rejection(verifier, token) == "The token is not valid."


@pytest.mark.parametrize("garbage", ["", "garbage", "a.b.c", "eyJhbGciOiJFZERTQSJ9.e30.AAAA"])
async def test_garbage_is_rejected(verifier: TokenVerifier, garbage: str) -> None:
    assert await rejection(verifier, garbage) in (
        "The bearer token is malformed.", "The token's algorithm or key id is not accepted.",
    )


async def test_unreachable_issuer_keys_are_a_503_problem(issuer: TestIssuer) -> None:
    async def unreachable() -> dict[str, Any]:
        raise ConnectionError("the gateway is down")

    verifier = TokenVerifier(unreachable, issuer=ISSUER, audience=AUDIENCE)

    with pytest.raises(Problem) as raised:
        await verifier.verify(issuer.token(ORGANIZATION, CASEWORKER))
    assert raised.value.status == 503


async def test_unknown_key_ids_refetch_the_keys_at_most_once_per_refresh_interval(issuer: TestIssuer) -> None:
    fetches = 0

    async def counted_keys() -> dict[str, Any]:
        nonlocal fetches
        fetches += 1
        return await issuer.key_source()

    verifier = TokenVerifier(counted_keys, issuer=ISSUER, audience=AUDIENCE, refresh_interval=3600)
    stranger = SigningKey.generate()
    for _ in range(5):
        token = jwt.encode(claims(), stranger.private_key, algorithm="EdDSA", headers={"kid": "k1"})
        await rejection(verifier, token)

    assert fetches == 1
    identity = await verifier.verify(issuer.token(ORGANIZATION, CASEWORKER))
    assert identity.organization_id == ORGANIZATION
    assert fetches == 1
