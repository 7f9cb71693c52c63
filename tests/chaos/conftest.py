"""Fixtures of the chaos suite: a stack on servers of its own, under load from `driver`.

- `chaos_mongo`: the package's `RestartableMongo` (tests may pause or stop it; each test
  leaves it running).
- `chaos_stack`: every service (api twice) behind a gateway, on `chaos_mongo`, a Redis database
  and an events exchange of the package's own, upload on a moto S3 server. A test that kills an instance starts it again
  (`servers.respawn`) before it ends.
- `admin_token`: a hospital admin's access token on `chaos_stack`.

A test needing other servers (a private Redis server, say) builds its own stack with
`servers.running_stack(...)`. Every test records its load with `report.record(fault, load)`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from redis_databases import private_redis_database

from chaos.driver import register
from chaos.report import start_report
from chaos.servers import RestartableMongo, running_stack
from tools.devstack import Stack


@pytest.fixture(scope="session", autouse=True)
def fault_report() -> None:
    """A fresh per-fault table for the session (build/chaos/faults.md)."""
    start_report()


@pytest.fixture(scope="package")
def chaos_mongo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RestartableMongo]:
    root = tmp_path_factory.mktemp("chaos-mongo")
    with RestartableMongo(root / "data", root) as mongo:
        yield mongo


@pytest.fixture(scope="package")
def chaos_stack(
    tmp_path_factory: pytest.TempPathFactory,
    chaos_mongo: RestartableMongo,
    redis_server: str,
    amqp_url: str,
) -> Iterator[Stack]:
    with (
        private_redis_database(redis_server) as redis_url,
        running_stack(
            tmp_path_factory.mktemp("chaos-stack"),
            mongo_url=chaos_mongo.url,
            redis_url=redis_url,
            amqp_url=amqp_url,
            moto=True,
        ) as stack,
    ):
        yield stack


@pytest.fixture
async def admin_token(chaos_stack: Stack) -> str:
    token, _ = await register(chaos_stack.base_url)
    return token
