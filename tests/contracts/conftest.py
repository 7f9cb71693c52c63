"""Fixtures of the contract tests: the whole platform on real servers, for synchronous callers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from redis_databases import private_redis_database

from tools.devstack import private_event_exchange

from .platform import Platform, Servers, running


@pytest.fixture(scope="session")
def platform(
    tmp_path_factory: pytest.TempPathFactory, mongo_url: str, redis_server: str, amqp_url: str
) -> Iterator[Platform]:
    """auth, api, upload and ratelimit on their own databases, Redis database and events
    exchange (deleted afterwards), one registered member per role."""
    with (
        private_redis_database(redis_server) as redis_url,
        private_event_exchange(amqp_url, "test-contracts") as exchange,
    ):
        servers = Servers(
            mongo_url=mongo_url,
            redis_url=redis_url,
            amqp_url=amqp_url,
            events_exchange=exchange,
            storage_dir=Path(tmp_path_factory.mktemp("contracts-files")),
        )
        with running(servers) as started:
            yield started
