"""E-mail addresses: basic syntax check and the canonical form that identifies an account."""

from __future__ import annotations

import unicodedata

MAX_ADDRESS_LENGTH = 254
MAX_LOCAL_LENGTH = 64
MAX_LABEL_LENGTH = 63
_LOCAL_FORBIDDEN = set('()<>[]\\,;:"@')


class InvalidEmail(ValueError):
    """The address is not a plausible e-mail address; `str(exc)` says why."""


def canonical_email(address: str) -> str:
    """The identity of an address: NFKC-normalised and lower-cased (unique per account)."""
    return unicodedata.normalize("NFKC", address.strip()).lower()


def check_email(address: str) -> None:
    """Check the syntax of `address` (dot-atom local part @ a domain of two or more labels).

    Deliberately basic: deliverability is proven by a confirmation mail, not by a parser.

    Raises:
        InvalidEmail: the address cannot be one.
    """
    normalized = unicodedata.normalize("NFKC", address)
    if len(normalized) > MAX_ADDRESS_LENGTH:
        raise InvalidEmail(f"must be at most {MAX_ADDRESS_LENGTH} characters")
    local, at, domain = normalized.rpartition("@")
    if not at or not local or not domain:
        raise InvalidEmail("must look like name@example.org")
    _check_local(local)
    _check_domain(domain)


def _check_local(local: str) -> None:
    if len(local) > MAX_LOCAL_LENGTH:
        raise InvalidEmail(f"the part before @ must be at most {MAX_LOCAL_LENGTH} characters")
    if any(not c.isprintable() or c.isspace() or c in _LOCAL_FORBIDDEN for c in local):
        raise InvalidEmail("the part before @ contains a character not allowed there")
    if local.startswith(".") or local.endswith(".") or ".." in local:
        raise InvalidEmail("the part before @ has a misplaced dot")


def _check_domain(domain: str) -> None:
    labels = domain.split(".")
    if len(labels) < 2:
        raise InvalidEmail("the domain must have a dot, e.g. example.org")
    for label in labels:
        if not 1 <= len(label) <= MAX_LABEL_LENGTH:
            raise InvalidEmail("the domain has an empty or overlong label")
        if label.startswith("-") or label.endswith("-"):
            raise InvalidEmail("a domain label cannot start or end with a hyphen")
        if not all(c.isalnum() or c == "-" for c in label):
            raise InvalidEmail("the domain contains a character not allowed there")
    if labels[-1].isdigit():
        raise InvalidEmail("the top-level domain cannot be numeric")
