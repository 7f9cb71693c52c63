"""The NIST SP 800-63B password policy: length in characters, blocklist, no composition rules."""

from __future__ import annotations

import pytest

from nocturnal.auth.domain.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    WeakPassword,
    blocklist_form,
    check_password,
    normalize_password,
)

# A hand-written fake of the loaded blocklist (entries in blocklist_form).
BLOCKLIST = frozenset({"passwordpassword", "123456789012345", "correcthorsebatterystaple"})


def check(password: str, context: tuple[str, ...] = ()) -> None:
    check_password(password, blocklist=BLOCKLIST, context=context)


def test_a_long_lowercase_passphrase_without_digits_or_symbols_is_accepted() -> None:
    check("night shift at the ward")


def test_length_counts_characters_not_bytes() -> None:
    check("ü" * 7 + "ñ" * 8)  # 15 characters, 30 bytes in UTF-8
    with pytest.raises(WeakPassword, match="at least 15"):
        check("ü" * 14)


@pytest.mark.parametrize("length", [MIN_LENGTH, MAX_LENGTH])
def test_the_length_bounds_are_inclusive(length: int) -> None:
    check("ab" * (length // 2) + "c" * (length % 2))


@pytest.mark.parametrize("length", [MIN_LENGTH - 1, MAX_LENGTH + 1])
def test_lengths_outside_15_to_128_are_rejected(length: int) -> None:
    with pytest.raises(WeakPassword):
        check("ab" * (length // 2) + "c" * (length % 2))


@pytest.mark.parametrize(
    "password",
    ["passwordpassword", "PasswordPassword", "PASSWORD\uff30ASSWORD", "123456789012345"],
)
def test_blocklisted_passwords_are_rejected_in_any_case_or_width(password: str) -> None:
    with pytest.raises(WeakPassword, match="commonly used or breached"):
        check(normalize_password(password))


def test_a_blocklisted_password_with_spaces_between_its_words_is_rejected() -> None:
    with pytest.raises(WeakPassword, match="commonly used or breached"):
        check("Correct Horse Battery Staple")


def test_one_repeated_character_is_rejected() -> None:
    with pytest.raises(WeakPassword, match="repeated"):
        check("aaaaaaaaaaaaaaaa")


def test_the_accounts_own_email_is_rejected() -> None:
    with pytest.raises(WeakPassword, match="e-mail"):
        check("ada.lovelace@example.org", context=("Ada.Lovelace@example.org",))


@pytest.mark.parametrize(
    "password",
    [
        "Marta Kowalska 1234",
        "my marta.k@example.org pass",
        "my MARTA.K pass phrase here",
        "martakowalska and the night ward",
        "the \uff2d\uff41\uff52\uff54\uff41 kowalska passphrase",  # fullwidth: NFKC
    ],
)
def test_a_password_containing_the_email_its_local_part_or_the_name_is_rejected(
    password: str,
) -> None:
    with pytest.raises(WeakPassword, match="must not contain your e-mail address or name"):
        check(password, context=("marta.k@example.org", "marta.k", "Marta Kowalska"))


def test_context_words_shorter_than_four_characters_are_not_looked_for() -> None:
    check("bob and the night ward shift", context=("bo@x.io", "bo", "Bob"))


def test_normalisation_makes_compatibility_forms_equal() -> None:
    assert normalize_password("\uff50\uff41\uff53\uff53") == "pass"
    assert normalize_password("ﬁ") == "fi"


def test_the_blocklist_form_is_nfkc_then_case_folded() -> None:
    assert blocklist_form("Stra\u00dfe\uff21") == "strassea"
