import base64
import uuid
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from services.notifications.tests.conftest import Notifications, StartNotifications
from waymark_notifications.subscriptions.models import Subscription

PROBLEM = "https://waymark.network/problems/"


def body(url: str = "https://partner.example/hooks", **changes: Any) -> dict[str, Any]:
    return {"url": url, "event_types": ["referral.*"], "description": "case system", **changes}


async def test_create_shows_the_secret_once(notifications: Notifications) -> None:
    org = uuid.uuid4()
    created = await notifications.client.post(
        "/v1/subscriptions", headers=notifications.admin(org),
        json=body("http://127.0.0.1:8080/hooks", event_types=["referral.*", "case.consent_withdrawn"]),
    )
    assert created.status_code == 201, created.text
    subscription = created.json()
    assert created.headers["Location"] == f"/v1/subscriptions/{subscription['id']}"
    assert subscription["organization_id"] == str(org)
    assert subscription["event_types"] == ["referral.*", "case.consent_withdrawn"]
    assert subscription["description"] == "case system"
    assert subscription["enabled"] is True
    assert subscription["disabled_reason"] is None
    assert subscription["created_at"].endswith("Z")
    secret = subscription["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[6:])) == 32

    shown = await notifications.client.get(
        f"/v1/subscriptions/{subscription['id']}", headers=notifications.admin(org)
    )
    assert shown.status_code == 200
    assert "secret" not in shown.json()
    assert shown.json() == {key: value for key, value in subscription.items() if key != "secret"}
    listed = await notifications.client.get("/v1/subscriptions", headers=notifications.admin(org))
    assert [item["id"] for item in listed.json()["items"]] == [subscription["id"]]
    assert "secret" not in listed.json()["items"][0]


async def test_the_secret_is_stored_encrypted(notifications: Notifications) -> None:
    org = uuid.uuid4()
    created = (await notifications.client.post(
        "/v1/subscriptions", headers=notifications.admin(org), json=body()
    )).json()
    async with notifications.app.state.database.transaction() as session:
        stored = (await session.execute(
            select(col(Subscription.sealed_secret)).where(col(Subscription.id) == uuid.UUID(created["id"]))
        )).scalar_one()
    assert created["secret"][6:] not in stored
    assert base64.b64decode(created["secret"][6:]) not in base64.b64decode(stored)


async def test_only_an_org_admin_manages_subscriptions(notifications: Notifications) -> None:
    org = uuid.uuid4()
    caseworker = notifications.issuer.headers(org, "caseworker")
    refused = await notifications.client.post("/v1/subscriptions", headers=caseworker, json=body())
    assert refused.status_code == 403
    assert refused.json()["type"] == PROBLEM + "forbidden"
    subscription = await notifications.subscribe(org, "https://partner.example/hooks", "*")
    path = f"/v1/subscriptions/{subscription['id']}"
    assert (await notifications.client.get(path, headers=caseworker)).status_code == 200
    assert (await notifications.client.patch(
        path, headers=caseworker, json={"enabled": False}
    )).status_code == 403
    assert (await notifications.client.delete(path, headers=caseworker)).status_code == 403
    assert (await notifications.client.post(f"{path}/test", headers=caseworker)).status_code == 403


async def test_another_organisation_sees_nothing(notifications: Notifications) -> None:
    owner, other = uuid.uuid4(), uuid.uuid4()
    subscription = await notifications.subscribe(owner, "https://partner.example/hooks", "*")
    path = f"/v1/subscriptions/{subscription['id']}"
    intruder = notifications.issuer.headers(other, "org_admin", "network_admin")
    for response in (
        await notifications.client.get(path, headers=intruder),
        await notifications.client.patch(path, headers=intruder, json={"enabled": False}),
        await notifications.client.delete(path, headers=intruder),
        await notifications.client.get(f"{path}/deliveries", headers=intruder),
        await notifications.client.post(f"{path}/test", headers=intruder),
        await notifications.client.post(f"{path}/rotate-secret", headers=intruder),
        await notifications.client.get(f"/v1/subscriptions/{uuid.uuid4()}", headers=intruder),
    ):
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == (
            "No subscription with this id exists or it is not visible to you."
        )
    listed = await notifications.client.get("/v1/subscriptions", headers=intruder)
    assert listed.json() == {"items": [], "next_cursor": None}
    unchanged = await notifications.client.get(path, headers=notifications.admin(owner))
    assert unchanged.json()["enabled"] is True


async def test_update_disable_enable_and_delete(notifications: Notifications) -> None:
    org = uuid.uuid4()
    headers = notifications.admin(org)
    subscription = await notifications.subscribe(org, "https://partner.example/hooks", "referral.*")
    path = f"/v1/subscriptions/{subscription['id']}"

    changed = await notifications.client.patch(path, headers=headers, json={
        "url": "https://partner.example/v2/hooks", "event_types": ["*"], "description": None,
    })
    assert changed.status_code == 200, changed.text
    assert changed.json()["url"] == "https://partner.example/v2/hooks"
    assert changed.json()["event_types"] == ["*"]
    assert changed.json()["description"] is None

    disabled = await notifications.client.patch(path, headers=headers, json={"enabled": False})
    assert disabled.json()["enabled"] is False
    assert disabled.json()["disabled_reason"] == "disabled_by_organization"
    enabled = await notifications.client.patch(path, headers=headers, json={"enabled": True})
    assert enabled.json()["enabled"] is True
    assert enabled.json()["disabled_reason"] is None

    assert (await notifications.client.delete(path, headers=headers)).status_code == 204
    assert (await notifications.client.get(path, headers=headers)).status_code == 404
    assert (await notifications.client.delete(path, headers=headers)).status_code == 404


async def test_invalid_bodies_are_422_problems(notifications: Notifications) -> None:
    org = uuid.uuid4()
    headers = notifications.admin(org)
    for invalid in (
        body(secret="mine"),
        body(event_types=["referral.teleported"]),
        body(event_types=["payments.*"]),
        body(event_types=["referral.**"]),
        body(event_types=[]),
        body(event_types=["*"] * 51),
        body(description="x" * 501),
        body(url="https://partner.example/" + "x" * 2048),
        {"event_types": ["*"]},
    ):
        response = await notifications.client.post(
            "/v1/subscriptions", headers=headers, json=invalid
        )
        assert response.status_code == 422, invalid
        assert response.json()["type"] == PROBLEM + "validation-error"
        assert response.json()["status"] == 422

    subscription = await notifications.subscribe(org, "https://partner.example/hooks", "*")
    path = f"/v1/subscriptions/{subscription['id']}"
    for invalid in ({"url": None}, {"enabled": None}, {"event_types": ["nope"]}, {"colour": "red"}):
        response = await notifications.client.patch(path, headers=headers, json=invalid)
        assert response.status_code == 422, invalid
    assert (await notifications.client.get(path, headers=headers)).json()["event_types"] == ["*"]


async def test_unsafe_urls_are_refused_at_registration(
    start_notifications: StartNotifications
) -> None:
    """With the development setting off: only the validator runs, no connection is opened."""
    notifications = await start_notifications(webhook_allow_insecure=False)
    org = uuid.uuid4()
    headers = notifications.admin(org)
    for url in (
        "http://partner.example/hooks", "https://127.0.0.1/hooks", "https://10.0.0.1/hooks",
        "https://169.254.169.254/latest/meta-data/", "https://0x7f000001/", "https://2130706433/",
        "https://[::1]/", "https://user:pw@partner.example/hooks",
    ):
        response = await notifications.client.post(
            "/v1/subscriptions", headers=headers, json=body(url)
        )
        assert response.status_code == 422, url
        assert response.json()["type"] == PROBLEM + "unsafe-webhook-url"
        assert response.json()["title"] == "Unsafe webhook URL"
        assert response.json()["detail"]
    accepted = await notifications.client.post(
        "/v1/subscriptions", headers=headers, json=body("https://1.1.1.1/hooks")
    )
    assert accepted.status_code == 201
    path = f"/v1/subscriptions/{accepted.json()['id']}"
    moved = await notifications.client.patch(path, headers=headers, json={"url": "https://127.1/"})
    assert moved.status_code == 422
    assert (await notifications.client.get(path, headers=headers)).json()["url"] == "https://1.1.1.1/hooks"
    listed = await notifications.client.get("/v1/subscriptions", headers=headers)
    assert len(listed.json()["items"]) == 1


async def test_list_pages_with_a_cursor(notifications: Notifications) -> None:
    org = uuid.uuid4()
    headers = notifications.admin(org)
    created = [
        (await notifications.subscribe(org, f"https://partner.example/{n}", "*"))["id"]
        for n in range(3)
    ]
    first = (await notifications.client.get(
        "/v1/subscriptions", headers=headers, params={"limit": 2}
    )).json()
    second = (await notifications.client.get(
        "/v1/subscriptions", headers=headers, params={"limit": 2, "cursor": first["next_cursor"]}
    )).json()
    assert [item["id"] for item in first["items"] + second["items"]] == created[::-1]
    assert second["next_cursor"] is None
    too_many = await notifications.client.get(
        "/v1/subscriptions", headers=headers, params={"limit": 101}
    )
    assert too_many.status_code == 422
    forged = await notifications.client.get(
        "/v1/subscriptions", headers=headers, params={"cursor": "bm9wZQ"}
    )
    assert forged.status_code == 400


async def test_a_client_without_organisation_is_refused(notifications: Notifications) -> None:
    headers = notifications.issuer.headers(None, "network_admin")
    assert (await notifications.client.get("/v1/subscriptions", headers=headers)).status_code == 403
    assert (await notifications.client.get("/v1/subscriptions")).status_code == 401
