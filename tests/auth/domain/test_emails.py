"""E-mail syntax and the canonical form that identifies an account."""

from __future__ import annotations

import pytest

from nocturnal.auth.domain.emails import InvalidEmail, canonical_email, check_email


@pytest.mark.parametrize(
    "address",
    ["ada@example.org", "first.last+tag@sub.example.co.uk", "Ada@Example.ORG", "nurse@hôpital.fr"],
)
def test_plausible_addresses_pass(address: str) -> None:
    check_email(address)


@pytest.mark.parametrize(
    "address",
    [
        "",
        "no-at-sign.example.org",
        "@example.org",
        "ada@",
        "ada@localhost",
        "ada@@example.org",
        "a da@example.org",
        ".ada@example.org",
        "ada..b@example.org",
        "ada@-example.org",
        "ada@example..org",
        "ada@example.123",
        'ad"a@example.org',
        "ada@exa_mple.org",
        f"{'a' * 65}@example.org",
        f"ada@{'a' * 250}.org",
    ],
)
def test_implausible_addresses_are_rejected(address: str) -> None:
    with pytest.raises(InvalidEmail):
        check_email(address)


def test_canonical_form_ignores_case_and_compatibility_characters() -> None:
    assert canonical_email("Ada@Example.ORG") == "ada@example.org"
    # Fullwidth letters (as some keyboards type them) are the same address after NFKC.
    assert canonical_email("\uff21da@example.org") == "ada@example.org"
    assert canonical_email("  ada@example.org ") == "ada@example.org"
