"""Email for urgent and overdue referrals, sent to a local SMTP server the test runs."""

import asyncio
import uuid
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import select
from sqlmodel import col

from services.notifications.tests.conftest import StartNotifications
from waymark_kernel.events import OrganizationChanged, ReferralChanged
from waymark_kernel.settings import Settings
from waymark_kernel.testing import free_port
from waymark_notifications.inbox.models import InboxNotification
from waymark_notifications.inbox.service import email_retry_delay


class Mailbox:
    """Accepts every message, except that it refuses the first `refusals[address]` messages
    to an address with a temporary error."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.refusals: dict[str, int] = {}
        self.refused: list[str] = []
        self.port = 0  # set once the server listens

    async def handle_DATA(  # the name aiosmtpd calls
        self, _server: SMTP, _session: Session, envelope: Envelope
    ) -> str:
        (address,) = envelope.rcpt_tos
        if self.refusals.get(address, 0) > 0:
            self.refusals[address] -= 1
            self.refused.append(address)
            return "451 4.3.0 Try again later"
        assert isinstance(envelope.content, bytes)  # the controller does not decode the data
        message = message_from_bytes(envelope.content, policy=policy.default)
        self.messages.append((envelope.rcpt_tos, message))
        return "250 OK"

    async def wait_for(self, count: int) -> list[tuple[list[str], EmailMessage]]:
        async def arrived() -> None:
            while len(self.messages) < count:
                await asyncio.sleep(0.02)
        await asyncio.wait_for(arrived(), 15)
        return self.messages


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    port = free_port()
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
    start_notifications: StartNotifications, mailbox: Mailbox
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
    assert messages[1][1]["Subject"] == (
        "Waymark: Your referral is overdue for an answer (NP → LB, urgency low)"
    )
    inbox = (await notifications.client.get(
        "/v1/inbox", headers=notifications.admin(silent)
    )).json()
    assert [item["referral_id"] for item in inbox["items"]] == [str(overdue.referral_id)]


def test_email_retries_back_off_exponentially_up_to_a_cap() -> None:
    settings = Settings(smtp_retry_seconds=5, smtp_retry_max_seconds=60)
    for failed_attempts, expected in ((1, 5), (2, 10), (3, 20), (4, 40), (5, 60), (12, 60)):
        delays = {email_retry_delay(failed_attempts, settings) for _ in range(20)}
        assert all(
            timedelta(seconds=expected * 0.9) <= delay <= timedelta(seconds=expected * 1.1)
            for delay in delays
        )
        assert len(delays) > 1  # jittered


async def test_a_refused_email_is_tried_again_and_holds_up_no_other(
    start_notifications: StartNotifications, mailbox: Mailbox
) -> None:
    notifications = await start_notifications(
        smtp_host="127.0.0.1", smtp_port=mailbox.port, smtp_retry_seconds=0.05,
        smtp_retry_max_seconds=0.2,
    )
    sender, flaky, steady = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    for org, email in ((sender, "desk@sender.test"), (flaky, "desk@flaky.test"),
                       (steady, "desk@steady.test")):
        await notifications.publish("organization.created", organization(org, email))
    mailbox.refusals["desk@flaky.test"] = 3

    to_flaky = referral(sender, flaky, "requested", "emergency")
    await notifications.publish("referral.requested", to_flaky)
    to_steady = referral(sender, steady, "requested", "high")
    await notifications.publish("referral.requested", to_steady)

    async def email_states() -> dict[uuid.UUID, tuple[int, bool]]:
        async with notifications.app.state.database.transaction() as session:
            rows = (await session.execute(select(InboxNotification).where(
                col(InboxNotification.organization_id).in_([flaky, steady])
            ))).scalars().all()
        return {row.organization_id: (row.email_attempts, row.email_pending) for row in rows}

    async def all_sent() -> None:
        while any(pending for _, pending in (await email_states()).values()):
            await asyncio.sleep(0.02)
    await asyncio.wait_for(all_sent(), 15)

    # Marked sent only after its send: every message that went out is in the mailbox now.
    assert await email_states() == {flaky: (3, False), steady: (0, False)}
    assert mailbox.refused == ["desk@flaky.test"] * 3
    delivered = {recipients[0]: message for recipients, message in mailbox.messages}
    assert len(mailbox.messages) == len(delivered) == 2
    assert str(to_flaky.referral_id) in delivered["desk@flaky.test"].get_content()
    assert str(to_steady.referral_id) in delivered["desk@steady.test"].get_content()
