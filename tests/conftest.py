"""Session fixtures for every test package: real backing servers and the whole stack."""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase
from redis_databases import private_redis_database
from tracing_spans import SPANS

from tools.devstack import (
    DEFAULT_AMQP_URL,
    DEFAULT_REDIS_URL,
    Server,
    Stack,
    StackSettings,
    amqp_answers,
    delete_event_topology,
    ensure_rabbitmq,
    ensure_redis,
    http_ok,
    mongo_answers,
    new_exchange_name,
    private_event_exchange,
    redis_answers,
    start_moto,
    start_secantus,
    wait_until,
)

SERVER_FIXTURES = frozenset(
    {"mongo_url", "redis_server", "amqp_url", "s3_endpoint_url", "gateway_stack"}
)
"""A test that needs one of these (directly or through another fixture) talks to a real
server."""

# Images for the testcontainers path (only where a Docker engine answers).
MONGO_IMAGE = "mongo:7.0"
REDIS_IMAGE = "redis:7.2"
RABBITMQ_IMAGE = "rabbitmq:3.13"
MOTO_IMAGE = "motoserver/moto:5.1.0"


@pytest.fixture(autouse=True)
def _fresh_spans() -> None:
    """Each test reads only its own spans (tracing is on for the session: tracing_spans)."""
    SPANS.clear()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `integration` every test that uses a real server, so that
    `pytest -m "not integration"` runs the pure tests alone, in seconds. A test starting a
    server of its own some other way carries the mark itself."""
    for item in items:
        if SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)


@functools.cache
def docker_engine_answers() -> bool:
    """True when `docker info` succeeds: a Docker engine is there for testcontainers."""
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=15).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@contextlib.contextmanager
def container(
    image: str, port: int, answers: Callable[[str], bool], url: str, command: str | None = None
) -> Iterator[str]:
    """Run `image` with testcontainers; yield `url` (with {host} and {port}) once it answers."""
    from testcontainers.core.container import DockerContainer

    server = DockerContainer(image).with_exposed_ports(port)
    if command:
        server = server.with_command(command)
    with server:
        host, mapped = server.get_container_host_ip(), server.get_exposed_port(port)
        address = url.format(host=host, port=mapped)
        wait_until(lambda: answers(address), image, timeout=90)
        yield address


def initiate_replica_set(url: str) -> None:
    """Make a fresh mongod (started with --replSet rs0) a single-node replica-set primary."""
    import pymongo

    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(url)
    with contextlib.closing(client):
        members = [{"_id": 0, "host": "localhost:27017"}]
        client.admin.command("replSetInitiate", {"_id": "rs0", "members": members})
        primary = lambda: bool(client.admin.command("hello").get("isWritablePrimary"))  # noqa: E731
        wait_until(primary, "MongoDB replica set", timeout=30)


@contextlib.contextmanager
def stopping(server: Server) -> Iterator[str]:
    """Yield the server's URL; stop it afterwards if it was started for this session."""
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def server_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Logs and pid files of the servers this test session starts."""
    return tmp_path_factory.mktemp("servers")


@pytest.fixture(scope="session")
def mongo_url(server_dir: Path) -> Iterator[str]:
    """A MongoDB with transactions: MONGO_URL, else a container, else SecantusDB in memory."""
    if url := os.environ.get("MONGO_URL"):
        yield url
    elif docker_engine_answers():
        direct = "mongodb://{host}:{port}/?directConnection=true"
        with container(MONGO_IMAGE, 27017, mongo_answers, direct, "--replSet rs0") as url:
            initiate_replica_set(url)
            yield url
    else:
        with stopping(start_secantus(":memory:", server_dir / "mongo.log")) as url:
            yield url


@pytest.fixture(scope="session")
def redis_server(server_dir: Path) -> Iterator[str]:
    """REDIS_URL, else a container, else the local Redis (started if it is installed)."""
    if url := os.environ.get("REDIS_URL"):
        yield url
    elif docker_engine_answers():
        with container(REDIS_IMAGE, 6379, redis_answers, "redis://{host}:{port}/0") as url:
            yield url
    else:
        with stopping(ensure_redis(DEFAULT_REDIS_URL, server_dir / "redis.log")) as url:
            yield url


@pytest.fixture(scope="session")
def redis_url(redis_server: str) -> Iterator[str]:
    """A Redis database of this session's own, empty at the start."""
    with private_redis_database(redis_server) as url:
        yield url


@pytest.fixture(scope="session")
def amqp_url(server_dir: Path) -> Iterator[str]:
    """AMQP_URL, else a container, else the local RabbitMQ (started if it is installed)."""
    if url := os.environ.get("AMQP_URL"):
        yield url
    elif docker_engine_answers():
        amqp = "amqp://guest:guest@{host}:{port}/"
        with container(RABBITMQ_IMAGE, 5672, amqp_answers, amqp) as url:
            yield url
    else:
        with stopping(ensure_rabbitmq(DEFAULT_AMQP_URL, server_dir / "rabbitmq.log")) as url:
            yield url


@pytest.fixture(scope="session")
def s3_endpoint_url(server_dir: Path) -> Iterator[str]:
    """An S3 endpoint (credentials testing/testing): S3_ENDPOINT_URL, a container, or moto."""
    if url := os.environ.get("S3_ENDPOINT_URL"):
        yield url
    elif docker_engine_answers():
        moto_api = lambda url: http_ok(f"{url}/moto-api/")  # noqa: E731
        with container(MOTO_IMAGE, 5000, moto_api, "http://{host}:{port}") as url:
            yield url
    else:
        with stopping(start_moto(server_dir / "s3.log")) as url:
            yield url


@pytest.fixture(scope="session")
def gateway_stack(
    tmp_path_factory: pytest.TempPathFactory, redis_server: str, amqp_url: str
) -> Iterator[Stack]:
    """Every service behind the nginx gateway (`.base_url`), on its own in-memory SecantusDB
    (unless MONGO_URL is set), Redis database and events exchange; logs in a tmp dir."""
    run_dir = tmp_path_factory.mktemp("stack")
    with (
        private_redis_database(redis_server) as redis_url,
        private_event_exchange(amqp_url, "test-e2e") as events_exchange,
    ):
        settings = StackSettings(
            gateway_port=0,
            public_host="127.0.0.1",
            run_dir=run_dir,
            mongo_url=os.environ.get("MONGO_URL"),
            mongo_storage=":memory:",
            redis_url=redis_url,
            amqp_url=amqp_url,
            s3_endpoint_url=os.environ.get("S3_ENDPOINT_URL"),
            events_exchange=events_exchange,
            # Exact limits are asserted (the 6th login is a 429): every check waits for the
            # service (hedge floor = RATELIMIT_TIMEOUT_S), never decided locally on a slow CI.
            extra_env={"RATELIMIT_HEDGE_FLOOR_S": "0.25"},
        )
        with Stack(settings) as stack:
            print(f"\n{stack.describe()}")
            yield stack


@pytest.fixture(scope="session")
def events_exchange(amqp_url: str) -> Iterator[str]:
    """A unique events exchange for the test session, deleted with its queues at the end."""
    with private_event_exchange(amqp_url, "test-session") as exchange:
        yield exchange


@pytest.fixture(scope="session")
async def mongo_client(mongo_url: str) -> AsyncIterator[AsyncMongoClient[Any]]:
    """One MongoDB client for the session, for preparing and inspecting data (tz-aware)."""
    client: AsyncMongoClient[Any] = AsyncMongoClient(mongo_url, tz_aware=True)
    yield client
    await client.close()


@pytest.fixture
def database_name(request: pytest.FixtureRequest) -> str:
    """A database name of the test's own: `test_<package>_<random>` (e.g. `test_api_…`)."""
    package = request.path.relative_to(Path(__file__).parent).parts[0]
    return f"test_{package}_{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def db(
    mongo_client: AsyncMongoClient[Any], database_name: str
) -> AsyncIterator[AsyncDatabase[Any]]:
    """The test's own database, dropped afterwards."""
    yield mongo_client[database_name]
    await mongo_client.drop_database(database_name)


@pytest.fixture(scope="session")
async def ratelimit_url(redis_url: str, amqp_url: str) -> AsyncIterator[str]:
    """The real ratelimit service on this session's Redis database.

    On an exchange of its own (deleted afterwards): its adaptive tier must not react to the
    failed logins other tests make.
    """
    from aiohttp.test_utils import TestServer

    from nocturnal.ratelimit.app import create_app as create_ratelimit_app
    from nocturnal.ratelimit.settings import RatelimitSettings

    exchange = new_exchange_name("test-rl")
    settings = RatelimitSettings(
        redis_url=redis_url,
        amqp_url=amqp_url,
        events_exchange=exchange,
        instance_name="ratelimit-test",
    )
    async with TestServer(create_ratelimit_app(settings)) as server:
        yield str(server.make_url("")).rstrip("/")
    await delete_event_topology(amqp_url, exchange)
