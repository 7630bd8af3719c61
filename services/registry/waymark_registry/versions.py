"""Optimistic concurrency: an object's version is its ETag, and a change must name it in
If-Match (428 without, 412 when the object has changed since)."""

from waymark_kernel.problems import Problem


def etag(version: int) -> str:
    return f'"{version}"'


def check_if_match(if_match: str | None, version: int, what: str) -> None:
    if if_match is None:
        raise Problem(428, f"Changing {what} needs an If-Match header with its ETag (from GET).",
                      kind="precondition-required")
    tags = {tag.strip().removeprefix("W/").strip('"') for tag in if_match.split(",")}
    if "*" not in tags and str(version) not in tags:
        raise Problem(412, f"{what.capitalize()} has changed since you read it; it is now at "
                      f"version {version}. Read it again and retry.", kind="precondition-failed")
