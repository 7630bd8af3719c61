from pathlib import Path

import httpx

from gateway.tests.conftest import Standin
from waymark_gateway.main import AsgiUpstream, create_app
from waymark_kernel.auth import NETWORK_ADMIN, VIEWER
from waymark_kernel.settings import RunMode, Settings


async def test_standalone_mode_migrates_its_own_sqlite_file_and_issues_client_tokens(
    tmp_path: Path, standin: Standin, encryption_key: str
) -> None:
    services = {name: standin(name) for name in ("registry", "referrals", "notifications")}
    app = create_app(
        Settings(mode=RunMode.standalone, data_dir=tmp_path, encryption_key=encryption_key),
        upstreams={name: AsgiUpstream(service) for name, service in services.items()},
    )
    issuer = app.state.issuer
    admin = issuer.signing_key.issue(
        subject="network-admin", organization_id=None, roles=[NETWORK_ADMIN],
        issuer="waymark", audience="waymark-api", ttl_seconds=60,
    )

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as client:
            created = await client.post(
                "/v1/organizations/6f1c2a52-6a4e-4f57-9a53-2f4c1f0e5a01/clients",
                json={"name": "Shelter system", "roles": [VIEWER]},
                headers={"Authorization": f"Bearer {admin}"},
            )
            client_id, secret = created.json()["client_id"], created.json()["client_secret"]
            token = await client.post("/v1/auth/token", auth=(client_id, secret), data={
                "grant_type": "client_credentials",
            })
            ready = await client.get("/readyz")

    assert created.status_code == 201
    assert token.status_code == 200
    assert ready.status_code == 200
    assert (tmp_path / "gateway.db").exists()
    assert (tmp_path / "gateway-signing-key.pem").exists()
