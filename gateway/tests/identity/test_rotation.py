"""Key rotation: the new key signs, the retired one still verifies the tokens it signed."""

from pathlib import Path

import jwt

from gateway.tests.conftest import Network, Serve, Standin, StartGateway
from waymark_kernel.auth import VIEWER
from waymark_kernel.signing import SigningKey


async def test_after_a_rotation_tokens_of_the_retired_key_still_work_and_new_ones_use_the_new(
    start_gateway: StartGateway, standin: Standin, serve: Serve, tmp_path: Path
) -> None:
    retired, current = SigningKey.generate(), SigningKey.generate()
    retired_file = tmp_path / "retired.pem"
    retired_file.write_bytes(retired.to_pem())
    old_token = retired.issue(
        subject="partner", organization_id=None, roles=[VIEWER], issuer="waymark",
        audience="waymark-api", ttl_seconds=300,
    )
    async with serve(standin("registry")) as registry_url, start_gateway(
        registry_url=registry_url, signing_key=current,
        previous_signing_key_files=str(retired_file),
    ) as gateway:
        jwks = (await gateway.client.get("/.well-known/jwks.json")).json()
        with_old = await gateway.client.get(
            "/v1/organizations", headers={"Authorization": f"Bearer {old_token}"}
        )
        new_token = (await gateway.client.post("/v1/auth/token", data={
            "grant_type": "client_credentials", "client_id": "network-admin",
            "client_secret": gateway.admin_secret,
        })).json()["access_token"]

    assert [key["kid"] for key in jwks["keys"]] == [current.kid, retired.kid]
    assert all("d" not in key for key in jwks["keys"])
    assert with_old.status_code == 200
    assert jwt.get_unverified_header(new_token)["kid"] == current.kid


async def test_without_the_retired_key_its_tokens_are_refused(network: Network) -> None:
    token = SigningKey.generate().issue(
        subject="partner", organization_id=None, roles=[VIEWER], issuer="waymark",
        audience="waymark-api", ttl_seconds=300,
    )

    response = await network.client.get(
        "/v1/organizations", headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 401
