"""Who may see an event: the rule behind webhooks, the feed and the inbox alike."""

import uuid

from waymark_kernel.events import (
    CaseConsentWithdrawn,
    EventData,
    OrganizationChanged,
    ReferralChanged,
    ReferralCommentAdded,
    ServiceChanged,
    ServiceDeleted,
    SubscriptionDisabled,
    WebhookTest,
)


def audience(data: EventData) -> set[uuid.UUID] | None:
    """The organisations an event is about; None for public registry changes (everyone)."""
    match data:
        case OrganizationChanged() | ServiceChanged() | ServiceDeleted():
            return None
        case ReferralChanged() | ReferralCommentAdded():
            return {data.sender_org_id, data.receiver_org_id}
        case CaseConsentWithdrawn() | SubscriptionDisabled() | WebhookTest():
            return {data.organization_id}
    return set()  # a new event type reaches no one until it has a rule here
