import pytest

from waymark_kernel.messaging.broker import topic_matches


@pytest.mark.parametrize(("pattern", "routing_key", "matches"), [
    ("referral.accepted", "referral.accepted", True),
    ("referral.accepted", "referral.rejected", False),
    ("referral.*", "referral.accepted", True),
    ("referral.*", "referral", False),
    ("referral.*", "referral.comment.added", False),
    ("*.created", "service.created", True),
    ("*", "referral.accepted", False),
    ("#", "referral.accepted", True),
    ("#", "webhook", True),
    ("referral.#", "referral", True),
    ("referral.#", "referral.comment.added", True),
    ("referral.#", "referrals.accepted", False),
    ("#.deleted", "service.deleted", True),
    ("#.deleted", "deleted", True),
    ("a.#.z", "a.z", True),
    ("a.#.z", "a.b.c.z", True),
    ("a.#.z", "a.b.c", False),
    ("a.*.#", "a", False),
    ("a.*.#", "a.b", True),
])
def test_topic_matching_follows_amqp_semantics(
    pattern: str, routing_key: str, matches: bool
) -> None:
    assert topic_matches(pattern, routing_key) is matches
