"""What a subscription listens to: catalogue types (`referral.accepted`), a family
(`referral.*`) or everything (`*`)."""

from waymark_kernel.events import EVENT_TYPES

EVERYTHING = "*"
FAMILIES = frozenset(event_type.split(".", 1)[0] for event_type in EVENT_TYPES)


def is_known_pattern(pattern: str) -> bool:
    if pattern == EVERYTHING or pattern in EVENT_TYPES:
        return True
    family, dot_star, rest = pattern.partition(".*")
    return bool(dot_star) and not rest and family in FAMILIES


def matches(patterns: list[str], event_type: str) -> bool:
    family = event_type.split(".", 1)[0]
    return any(pattern in (EVERYTHING, event_type, f"{family}.*") for pattern in patterns)
