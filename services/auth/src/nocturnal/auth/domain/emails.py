"""E-mail addresses: syntax (email-validator, no DNS) and the canonical form that identifies an account."""

from __future__ import annotations

import contextlib
import unicodedata

from email_validator import EmailNotValidError, validate_email

MAX_ADDRESS_LENGTH = 254


class InvalidEmail(ValueError):
    """The address is not a valid e-mail address; `str(exc)` says why (safe to show)."""


def normalize_email(address: str) -> str:
    """email-validator's normalised form of `address`: the local part in NFC as typed, the
    domain IDNA-mapped (UTS #46: lower-cased, `xn--` labels shown in Unicode).

    Syntax per RFC 5321/5322 (a local part of at most 64 octets) with internationalised
    addresses (RFC 6531) allowed; no quoted local parts, no IP-address domains, no special-use domains (`.local`, `.test`, ...), and no
    DNS lookups: deliverability is proven by a confirmation mail, not by a resolver.

    Raises:
        InvalidEmail: the address cannot be one.
    """
    try:
        return validate_email(address, check_deliverability=False, strict=True).normalized
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None


def check_email(address: str) -> None:
    """Raise `InvalidEmail` unless `address` is a valid e-mail address (see `normalize_email`)."""
    normalize_email(address)


def canonical_email(address: str) -> str:
    """The identity of an address (DESIGN §2): NFKC, then lower-case, of its normalised form.

    So `Ada@Example.ORG`, `ada@EXAMPLE.org` and the same typed in fullwidth letters are one
    account, and so are `nurse@xn--hpital-ixa.fr` and `nurse@hôpital.fr`. Text email-validator refuses
    is taken as typed (stripped): it matches no account registered since, and login still finds
    an account registered under the older, plainer syntax check.
    """
    with contextlib.suppress(InvalidEmail):
        address = normalize_email(address.strip())
    return unicodedata.normalize("NFKC", address.strip()).lower()
