"""Conditional writes (RFC 9110 §13.1.1): a resource's `ETag` is its version, and `If-Match`
is read here, at the edge, into the versions the caller read. A service takes that domain value
and checks it against the version it holds (`require_version`); it never sees the header."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Response

from waymark_kernel.problems import Problem

MAX_IF_MATCH_LENGTH = 200


@dataclass(frozen=True)
class ExpectedVersion:
    """The versions a change may apply to: those the caller's entity tags name, or any (`*`)."""

    tags: frozenset[str]

    def admits(self, version: int) -> bool:
        return "*" in self.tags or str(version) in self.tags


def etag(version: int) -> str:
    return f'"{version}"'


def describe_version(response: Response, version: int) -> None:
    response.headers["ETag"] = etag(version)


def _expected_version(
    if_match: Annotated[str | None, Header(max_length=MAX_IF_MATCH_LENGTH)] = None,
) -> ExpectedVersion | None:
    """None when the request has no `If-Match`; weak tags compare as strong ones."""
    if if_match is None:
        return None
    return ExpectedVersion(frozenset(
        tag.strip().removeprefix("W/").strip('"') for tag in if_match.split(",")
    ))


ExpectedVersionDep = Annotated[ExpectedVersion | None, Depends(_expected_version)]


def require_version(expected: ExpectedVersion | None, current: int, what: str) -> None:
    """428 when the caller named no version, 412 when it read another than `current`."""
    if expected is None:
        raise Problem(
            428, f"Changing a {what} needs an If-Match header with its ETag (from GET).",
            kind="precondition-required",
        )
    if not expected.admits(current):
        raise Problem(
            412, f"The {what} has changed since you read it; it is now at version {current}. "
            "Read it again and retry.", kind="precondition-failed",
        )
