"""E-mail syntax (email-validator, no DNS) and the canonical form that identifies an account."""

from __future__ import annotations

import pytest

from nocturnal.auth.domain.emails import (
    InvalidEmail,
    canonical_email,
    check_email,
    normalize_email,
)


@pytest.mark.parametrize(
    "address",
    [
        "ada@example.org",
        "first.last+tag@sub.example.co.uk",
        "Ada@Example.ORG",
        "nurse@hôpital.fr",
        "nurse@xn--hpital-ixa.fr",
        "σίσυφος@example.gr",
        f"{'a' * 64}@example.org",
    ],
)
def test_valid_addresses_pass(address: str) -> None:
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
        '"ada lovelace"@example.org',
        "ada@exa_mple.org",
        "ada@[127.0.0.1]",
        "ada@hospital.local",
        "ada@ward.test",
        f"{'a' * 65}@example.org",
        f"ada@{'a' * 250}.org",
    ],
)
def test_invalid_addresses_are_rejected_with_a_reason(address: str) -> None:
    with pytest.raises(InvalidEmail) as invalid:
        check_email(address)
    assert str(invalid.value)


def test_normalisation_lower_cases_the_domain_only_and_shows_it_in_unicode() -> None:
    assert normalize_email("Ada@Example.ORG") == "Ada@example.org"
    assert normalize_email("Nurse@XN--HPITAL-IXA.fr") == "Nurse@hôpital.fr"


def test_canonical_form_ignores_case_and_compatibility_characters() -> None:
    assert canonical_email("Ada@Example.ORG") == "ada@example.org"
    # Fullwidth letters (as some keyboards type them) are the same address after NFKC.
    assert canonical_email("\uff21da@example.org") == "ada@example.org"
    assert canonical_email("  ada@example.org ") == "ada@example.org"


def test_an_ascii_encoded_domain_is_the_same_account_as_its_unicode_form() -> None:
    assert canonical_email("nurse@xn--hpital-ixa.fr") == canonical_email("Nurse@HÔPITAL.fr")
    assert canonical_email("nurse@xn--hpital-ixa.fr") == "nurse@hôpital.fr"


@pytest.mark.parametrize(
    "address", ["ada@hospital.local", "Ward.Seven@Clinic.TEST", "ADA@[127.0.0.1]"]
)
def test_an_address_the_validator_refuses_keeps_the_plain_nfkc_lower_case_identity(
    address: str,
) -> None:
    # Accounts registered under the earlier, plainer syntax check can still sign in.
    assert canonical_email(address) == address.lower()
