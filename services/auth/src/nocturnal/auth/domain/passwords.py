"""Password policy per NIST SP 800-63B rev 4: NFKC, length 15-128, a blocklist, no composition rules."""

from __future__ import annotations

import unicodedata
from collections.abc import Container, Iterable

MIN_LENGTH = 15
MAX_LENGTH = 128
# A context word shorter than this (a name "Li", a local part "ab") is too common a fragment
# of passphrases to refuse every password that contains it.
MIN_CONTEXT_CHARS = 4


class WeakPassword(ValueError):
    """The password breaks the policy; `str(exc)` says how (safe to show to the user)."""


def normalize_password(password: str) -> str:
    """NFKC form of `password`, so the same characters typed differently hash the same."""
    return unicodedata.normalize("NFKC", password)


def blocklist_form(text: str) -> str:
    """The form passwords and blocklist entries are compared in: NFKC, then case-folded."""
    return unicodedata.normalize("NFKC", text).casefold()


def check_password(
    password: str, *, blocklist: Container[str], context: Iterable[str] = ()
) -> None:
    """Check a new, already normalised password against the policy.

    `blocklist` holds commonly used and breached passwords in `blocklist_form`; the password
    matches it as typed or with its spaces left out ("correct horse battery staple").
    `context` holds words specific to the account (e-mail, its local part, name) that the
    password must not contain (SP 800-63B §3.1.1.2 context-specific words): compared in
    `blocklist_form` with spaces left out, each word of at least `MIN_CONTEXT_CHARS`
    characters.

    Raises:
        WeakPassword: shorter than 15 or longer than 128 characters (Unicode code points),
            one repeated character, on the blocklist, or containing a context word.
    """
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"must be at least {MIN_LENGTH} characters")
    if len(password) > MAX_LENGTH:
        raise WeakPassword(f"must be at most {MAX_LENGTH} characters")
    folded = blocklist_form(password)
    if len(set(folded)) == 1:
        raise WeakPassword("must not be one repeated character")
    if folded in blocklist or "".join(folded.split()) in blocklist:
        raise WeakPassword("is a commonly used or breached password; choose another")
    compact = "".join(folded.split())
    words = ("".join(blocklist_form(word).split()) for word in context)
    if any(len(word) >= MIN_CONTEXT_CHARS and word in compact for word in words):
        raise WeakPassword("must not contain your e-mail address or name")
