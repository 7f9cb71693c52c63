"""Password policy per NIST SP 800-63B rev 4: NFKC, length 15-128, a blocklist, no composition rules."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable

MIN_LENGTH = 15
MAX_LENGTH = 128

# Very common passwords long enough to pass the length rule (from public breach corpora).
COMMON_PASSWORDS = frozenset(
    {
        "123456789012345",
        "1234567890123456",
        "12345678901234567890",
        "123456789987654321",
        "qwertyuiopasdfgh",
        "qwertyuiopasdfghjkl",
        "qwertyuiopasdfghjklzxcvbnm",
        "1q2w3e4r5t6y7u8i",
        "1qaz2wsx3edc4rfv",
        "zaq12wsxcde34rfv",
        "passwordpassword",
        "password12345678",
        "password123456789",
        "iloveyouiloveyou",
        "abcdefghijklmnop",
        "abcdefghijklmnopqrstuvwxyz",
        "letmeinletmein1",
        "welcome12345678",
        "administrator123",
        "changemechangeme",
        "correcthorsebatterystaple",
        "thequickbrownfoxjumpsoverthelazydog",
        "nocturnalnocturnal",
    }
)


class WeakPassword(ValueError):
    """The password breaks the policy; `str(exc)` says how (safe to show to the user)."""


def normalize_password(password: str) -> str:
    """NFKC form of `password`, so the same characters typed differently hash the same."""
    return unicodedata.normalize("NFKC", password)


def check_password(password: str, *, context: Iterable[str] = ()) -> None:
    """Check a new, already normalised password against the policy.

    `context` holds words specific to the account (e-mail, its local part, name) that the
    password must not simply be.

    Raises:
        WeakPassword: shorter than 15 or longer than 128 characters (Unicode code points),
            one repeated character, a very common password, or a context word.
    """
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"must be at most {MAX_LENGTH} characters")
    folded = password.casefold()
    if len(set(folded)) == 1:
        raise WeakPassword("must not be one repeated character")
    if folded in COMMON_PASSWORDS:
        raise WeakPassword("is too common; choose another")
    if folded in {word.casefold() for word in context if word}:
        raise WeakPassword("must not be your e-mail address or name")
