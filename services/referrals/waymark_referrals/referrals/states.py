"""The referral state machine, in one place: who may move a referral from which status to which."""

from enum import StrEnum


class Status(StrEnum):  # FHIR Task status codes, in snake case
    draft = "draft"
    requested = "requested"
    received = "received"
    accepted = "accepted"
    rejected = "rejected"
    in_progress = "in_progress"
    on_hold = "on_hold"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


class Party(StrEnum):
    sender = "sender"
    receiver = "receiver"


S = Status
BY_SENDER, BY_RECEIVER = frozenset({Party.sender}), frozenset({Party.receiver})
BY_EITHER = BY_SENDER | BY_RECEIVER
# (from, to, by) exactly as the contract's table reads.
_RULES: tuple[tuple[tuple[Status, ...], tuple[Status, ...], frozenset[Party]], ...] = (
    ((S.draft,), (S.requested, S.cancelled), BY_SENDER),
    ((S.requested,), (S.received, S.accepted, S.rejected), BY_RECEIVER),
    ((S.requested, S.received), (S.cancelled,), BY_SENDER),
    ((S.received,), (S.accepted, S.rejected), BY_RECEIVER),
    ((S.accepted,), (S.in_progress, S.on_hold, S.completed, S.failed), BY_RECEIVER),
    ((S.in_progress,), (S.on_hold, S.completed, S.failed), BY_RECEIVER),
    ((S.on_hold,), (S.in_progress, S.completed, S.failed), BY_RECEIVER),
    ((S.accepted, S.in_progress, S.on_hold), (S.cancelled,), BY_EITHER),
)
TRANSITIONS: dict[tuple[Status, Status], frozenset[Party]] = {
    (source, target): parties
    for sources, targets, parties in _RULES for source in sources for target in targets
}

NEEDS_REASON = frozenset({Status.rejected, Status.cancelled, Status.on_hold, Status.failed})
CARRIES_OUTCOME = frozenset({Status.completed, Status.failed})
FINAL = frozenset({Status.rejected, Status.completed, Status.failed, Status.cancelled})
OPEN = frozenset(Status) - FINAL
AWAITING_ANSWER = frozenset({Status.requested, Status.received})  # what can become overdue
# The receiver works with the person (or has finished): it may refer them on.
REFERS_ONWARD = frozenset({Status.accepted, Status.in_progress, Status.on_hold, Status.completed})


def who_may(source: Status, target: Status) -> frozenset[Party] | None:
    """The parties allowed to make this transition; None if nobody may."""
    return TRANSITIONS.get((source, target))
