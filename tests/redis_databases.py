"""Logical Redis databases of a test session's own: rate-limit counters of one session (or of
an earlier run within the window) must not throttle another's."""

from __future__ import annotations

import contextlib
import urllib.parse
import uuid
from collections.abc import Iterator

# Logical Redis databases handed to test sessions; their locks live in the URL's own database.
REDIS_TEST_DATABASES = range(1, 16)
REDIS_LOCK_TTL_S = 3 * 3600


@contextlib.contextmanager
def private_redis_database(url: str) -> Iterator[str]:
    """Claim a logical database of the Redis at `url` that no other test session holds, empty.

    Rate-limit counters are keyed by client address (127.0.0.1 in every test), so sessions, and
    runs within the last window, that shared one database would throttle each other.
    """
    import redis

    locks = redis.Redis.from_url(url)
    token = uuid.uuid4().hex
    claimed = next(
        (
            db
            for db in REDIS_TEST_DATABASES
            if locks.set(f"nocturnal:test-session:db{db}", token, nx=True, ex=REDIS_LOCK_TTL_S)
        ),
        None,
    )
    if claimed is None:
        raise RuntimeError(f"every Redis test database at {url} is held by another test session")
    private_url = urllib.parse.urlsplit(url)._replace(path=f"/{claimed}").geturl()
    with contextlib.closing(redis.Redis.from_url(private_url)) as private:
        private.flushdb()
    try:
        yield private_url
    finally:
        lock = f"nocturnal:test-session:db{claimed}"
        if locks.get(lock) == token.encode():
            locks.delete(lock)
        locks.close()
