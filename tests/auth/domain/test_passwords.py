"""The NIST SP 800-63B password policy: length in characters, blocklist, no composition rules."""

from __future__ import annotations

import pytest

from nocturnal.auth.domain.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    WeakPassword,
    check_password,
    normalize_password,
)


def test_a_long_lowercase_passphrase_without_digits_or_symbols_is_accepted() -> None:
    check_password("night shift at the ward")


def test_length_counts_characters_not_bytes() -> None:
    check_password("ü" * 7 + "ñ" * 8)  # 15 characters, 30 bytes in UTF-8
    with pytest.raises(WeakPassword, match="at least 15"):
        check_password("ü" * 14)


@pytest.mark.parametrize("length", [MIN_LENGTH, MAX_LENGTH])
def test_the_length_bounds_are_inclusive(length: int) -> None:
    check_password("ab" * (length // 2) + "c" * (length % 2))


@pytest.mark.parametrize("length", [MIN_LENGTH - 1, MAX_LENGTH + 1])
def test_lengths_outside_15_to_128_are_rejected(length: int) -> None:
    with pytest.raises(WeakPassword):
        check_password("ab" * (length // 2) + "c" * (length % 2))


@pytest.mark.parametrize(
    "password", ["passwordpassword", "PasswordPassword", "123456789012345", "aaaaaaaaaaaaaaaa"]
)
def test_common_and_repeated_passwords_are_rejected(password: str) -> None:
    with pytest.raises(WeakPassword):
        check_password(password)


def test_the_accounts_own_email_is_rejected() -> None:
    with pytest.raises(WeakPassword, match="e-mail"):
        check_password("ada.lovelace@example.org", context=["Ada.Lovelace@example.org"])


def test_normalisation_makes_compatibility_forms_equal() -> None:
    assert normalize_password("\uff50\uff41\uff53\uff53") == "pass"
    assert normalize_password("ﬁ") == "fi"
