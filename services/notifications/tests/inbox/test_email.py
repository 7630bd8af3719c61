"""Email for urgent and overdue referrals, sent to a local SMTP server the test runs."""

import asyncio
import socket
import uuid
from email import message_from_bytes, policy

import pytest
from aiosmtpd.controller import Controller
from waymark_kernel.events import OrganizationChanged, ReferralChanged


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], object]] = []

    async def handle_DATA(self, _server, _session, envelope) -> str:  # noqa: N802 (aiosmtpd API)
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.rcpt_tos, message))
        return "250 OK"

    async def wait_for(self, count: int) -> list:
        async def arrived() -> None:
            while len(self.messages) < count:
                await asyncio.sleep(0.02)
        await asyncio.wait_for(arrived(), 15)
        return self.messages


@pytest.fixture
def mailbox():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    box = Mailbox()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    box.port = port
    yield box
    controller.stop()


def organization(organization_id: uuid.UUID, email: str | None) -> OrganizationChanged:
    return OrganizationChanged(
        organization_id=organization_id, name="Shelter", type="cso", country="LB",
        verified=True, email=email,
    )


def referral(sender: uuid.UUID, receiver: uuid.UUID, status: str, urgency: str) -> ReferralChanged:
    return ReferralChanged(
        referral_id=uuid.uuid4(), sender_org_id=sender, receiver_org_id=receiver, status=status,
        from_country="NP", to_country="LB", urgency=urgency, version=1,
    )


async def test_urgent_and_overdue_referrals_are_emailed_without_personal_data(
    start_notifications, mailbox
) -> None:
    notifications = await start_notifications(
        smtp_host="127.0.0.1", smtp_port=mailbox.port, smtp_sender="waymark@network.test"
    )
    sender, receiver, silent = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for event_type, org, email in (
        ("organization.created", sender, "old@sender.test"),
        ("organization.updated", sender, "desk@sender.test"),
        ("organization.created", receiver, "desk@receiver.test"),
        ("organization.created", silent, None),
    ):
        await notifications.publish(event_type, organization(org, email))

    routine = referral(sender, receiver, "requested", "normal")
    await notifications.publish("referral.requested", routine)
    urgent = referral(sender, receiver, "requested", "emergency")
    await notifications.publish("referral.requested", urgent)
    (recipients, message), = await mailbox.wait_for(1)
    assert recipients == ["desk@receiver.test"]
    assert message["From"] == "waymark@network.test"
    assert message["Subject"] == "Waymark: New referral received (NP → LB, urgency emergency)"
    assert str(urgent.referral_id) in message.get_content()
    assert str(routine.referral_id) not in message.get_content()

    overdue = referral(sender, silent, "requested", "low")
    await notifications.publish("referral.overdue", overdue)
    messages = await mailbox.wait_for(2)
    # The receiver has no contact address: only the sender is emailed.
    assert messages[1][0] == ["desk@sender.test"]
    assert messages[1][1]["Subject"] == "Waymark: Your referral is overdue for an answer " \
        "(NP → LB, urgency low)"
    inbox = (await notifications.client.get(
        "/v1/inbox", headers=notifications.admin(silent)
    )).json()
    assert [item["referral_id"] for item in inbox["items"]] == [str(overdue.referral_id)]
