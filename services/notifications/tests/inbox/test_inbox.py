"""The inbox: what each organisation's caseworkers are told, read and unread."""

import uuid
from typing import Any

from services.notifications.tests.conftest import Notifications
from waymark_kernel.events import (
    OrganizationChanged,
    ReferralChanged,
    ReferralCommentAdded,
    ServiceDeleted,
)


def referral(
    sender: uuid.UUID, receiver: uuid.UUID, status: str, referral_id: uuid.UUID | None = None
) -> ReferralChanged:
    return ReferralChanged(
        referral_id=referral_id or uuid.uuid4(), sender_org_id=sender, receiver_org_id=receiver,
        status=status, from_country="NP", to_country="LB", urgency="high", version=1,
    )


async def inbox(notifications: Notifications, org: uuid.UUID, **params: Any) -> dict[str, Any]:
    response = await notifications.client.get(
        "/v1/inbox", headers=notifications.issuer.headers(org, "caseworker"), params=params
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_each_side_of_a_referral_is_told_what_concerns_it(
    notifications: Notifications
) -> None:
    sender, receiver = uuid.uuid4(), uuid.uuid4()
    referral_id = uuid.uuid4()
    for status in ("requested", "accepted"):
        await notifications.publish(
            f"referral.{status}", referral(sender, receiver, status, referral_id)
        )
    await notifications.publish("referral.comment_added", ReferralCommentAdded(
        referral_id=referral_id, comment_id=uuid.uuid4(), sender_org_id=sender,
        receiver_org_id=receiver, author_org_id=receiver,
    ))
    await notifications.publish(
        "referral.overdue", referral(sender, receiver, "requested", referral_id)
    )
    await notifications.publish("service.deleted", ServiceDeleted(
        service_id=uuid.uuid4(), organization_id=sender,
    ))

    received = await inbox(notifications, receiver)
    assert [item["event_type"] for item in received["items"]] == [
        "referral.overdue", "referral.requested",
    ]
    assert received["unread_count"] == 2
    assert received["items"][1]["summary"] == "New referral received (NP → LB, urgency high)"
    assert received["items"][1]["referral_id"] == str(referral_id)
    assert received["items"][1]["read_at"] is None

    sent = await inbox(notifications, sender)
    assert [item["event_type"] for item in sent["items"]] == [
        "referral.overdue", "referral.comment_added", "referral.accepted",
    ]
    assert sent["unread_count"] == 3
    assert (await inbox(notifications, uuid.uuid4())) == {
        "items": [], "next_cursor": None, "unread_count": 0,
    }


async def test_reading_a_notification_lowers_the_unread_count(notifications: Notifications) -> None:
    sender, receiver = uuid.uuid4(), uuid.uuid4()
    for status in ("accepted", "rejected", "accepted"):
        await notifications.publish(f"referral.{status}", referral(sender, receiver, status))
    first = await inbox(notifications, sender, limit=2)
    rest = await inbox(notifications, sender, limit=2, cursor=first["next_cursor"])
    assert len(first["items"]) == 2
    assert len(rest["items"]) == 1
    assert rest["next_cursor"] is None
    notification = first["items"][0]

    path = f"/v1/inbox/{notification['id']}/read"
    viewer = notifications.issuer.headers(sender, "viewer")
    read = await notifications.client.post(path, headers=viewer)
    assert read.status_code == 200
    assert read.json()["read_at"] is not None
    assert read.json()["id"] == notification["id"]
    again = await notifications.client.post(path, headers=notifications.admin(sender))
    assert again.json()["read_at"] == read.json()["read_at"]

    after = await inbox(notifications, sender)
    assert after["unread_count"] == 2
    unread = await inbox(notifications, sender, unread="true")
    assert notification["id"] not in [item["id"] for item in unread["items"]]
    assert len(unread["items"]) == 2

    # Another organisation's notification answers 404 like a missing one.
    for missing in (path, f"/v1/inbox/{uuid.uuid4()}/read"):
        response = await notifications.client.post(missing, headers=notifications.admin(receiver))
        assert response.status_code == 404
        assert response.json()["detail"] == (
            "No notification with this id exists or it is not visible to you."
        )


async def test_finding_1_an_organisation_is_told_when_its_identity_or_verification_changes(
    notifications: Notifications,
) -> None:
    organization = uuid.uuid4()

    def change(*changed: str, **fields: Any) -> OrganizationChanged:
        return OrganizationChanged(**{
            "organization_id": organization, "name": "Amel", "type": "cso", "country": "LB",
            "verified": True, "changed_fields": list(changed), **fields,
        })

    await notifications.publish("organization.created", change())
    await notifications.publish("organization.updated", change("phone"))
    await notifications.publish("organization.updated", change())  # announced again
    await notifications.publish("organization.updated", change(
        "country", "type", "verified", type="national_society", country="FR", verified=False,
    ))
    await notifications.publish("organization.updated", change("verified"))

    told = await inbox(notifications, organization)
    assert [item["summary"] for item in told["items"]] == [
        "Your organisation's registration: now verified",
        "Your organisation's country and type changed (now national society in FR); "
        "verification withdrawn",
    ]
    assert {item["event_type"] for item in told["items"]} == {"organization.updated"}
    assert (await inbox(notifications, uuid.uuid4()))["items"] == []
