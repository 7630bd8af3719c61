"""People's passwords: 12 to 256 characters, none from the shipped list of common passwords,
hashed with Argon2id."""

import asyncio
import functools
import secrets
import string
from pathlib import Path

from argon2.exceptions import InvalidHashError, VerificationError

from waymark_gateway.identity.service import hasher

MIN_LENGTH, MAX_LENGTH = 12, 256
COMMON_PASSWORDS_FILE = Path(__file__).with_name("common-passwords.txt")
ARGON2_PREFIX = "$argon2"
DECORATION = string.digits + string.punctuation + string.whitespace


@functools.cache
def common_passwords() -> frozenset[str]:
    lines = COMMON_PASSWORDS_FILE.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


def refusal_of(password: str) -> str | None:
    """Why `password` may not be used, or None when it may."""
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        return f"A password has {MIN_LENGTH} to {MAX_LENGTH} characters."
    lowered = password.lower()
    if lowered in common_passwords() or lowered.strip(DECORATION) in common_passwords():
        return ("This password is one of the most commonly used passwords (or one with only "
                "digits or symbols added), which attackers try first; choose another.")
    if len(set(lowered)) < 4:
        return "This password repeats too few different characters; choose another."
    return None


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(hasher.hash, password)


def _matches(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


@functools.cache
def _unknown_person_hash() -> str:
    return hasher.hash(secrets.token_urlsafe(32))


async def password_matches(password_hash: str | None, password: str) -> bool:
    """Whether it matches; an unknown person (None), or one without a password (signing in
    through her provider), costs the same hashing and never matches."""
    usable = password_hash if password_hash and password_hash.startswith(ARGON2_PREFIX) else None
    matches = await asyncio.to_thread(_matches, usable or _unknown_person_hash(), password)
    return matches and usable is not None
