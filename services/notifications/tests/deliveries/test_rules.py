"""The rules the dispatcher follows: who an event concerns, and when to try again."""

import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from waymark_kernel.events import (
    EVENT_TYPES,
    CaseConsentWithdrawn,
    OrganizationChanged,
    ReferralCommentAdded,
    ServiceDeleted,
    SubscriptionDisabled,
)
from waymark_notifications.audience import audience
from waymark_notifications.deliveries.service import retry_delay
from waymark_notifications.subscriptions.patterns import is_known_pattern, matches
from waymark_notifications.webhooks.sender import SendResult, retry_after_seconds

A, B = uuid.uuid4(), uuid.uuid4()


def test_audiences() -> None:
    assert audience(OrganizationChanged(
        organization_id=A, name="Nepal Red Cross Society", type="national_society", country="NP",
        verified=True,
    )) is None
    assert audience(ServiceDeleted(service_id=uuid.uuid4(), organization_id=A)) is None
    assert audience(ReferralCommentAdded(
        referral_id=uuid.uuid4(), comment_id=uuid.uuid4(), sender_org_id=A, receiver_org_id=B,
        author_org_id=B,
    )) == {A, B}
    assert audience(CaseConsentWithdrawn(
        case_id=uuid.uuid4(), organization_id=A, cancelled_referral_ids=[]
    )) == {A}
    assert audience(SubscriptionDisabled(
        subscription_id=uuid.uuid4(), organization_id=B, reason="endpoint_gone"
    )) == {B}


def test_patterns() -> None:
    assert all(is_known_pattern(event_type) for event_type in EVENT_TYPES)
    assert is_known_pattern("*")
    assert is_known_pattern("referral.*")
    assert is_known_pattern("case.*")
    assert not is_known_pattern("referral.*.*")
    assert not is_known_pattern("billing.*")
    assert matches(["referral.*"], "referral.comment_added")
    assert matches(["*"], "webhook.test")
    assert matches(["service.deleted"], "service.deleted")
    assert not matches(["service.deleted", "referral.*"], "service.updated")


def test_the_schedule_gives_the_delays_then_gives_up() -> None:
    failed = SendResult(500, 12)
    delays = [retry_delay(attempt, failed, [5, 300]) for attempt in (1, 2, 3)]
    assert delays[0] is not None
    assert delays[1] is not None
    assert timedelta(seconds=4.5) <= delays[0] <= timedelta(seconds=5.5)
    assert timedelta(seconds=270) <= delays[1] <= timedelta(seconds=330)
    assert delays[2] is None


def test_retry_after_is_honoured() -> None:
    busy = SendResult(429, 3, retry_after_seconds=600)
    assert retry_delay(1, busy, [5]) == timedelta(seconds=600)
    assert retry_delay(2, busy, [5]) is None
    assert retry_after_seconds("120") == 120
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(minutes=1), usegmt=True)
    in_seconds = retry_after_seconds(in_a_minute)
    assert in_seconds is not None
    assert 50 < in_seconds <= 60
    assert retry_after_seconds("soon") is None
