"""Fixtures of the upload tests: sample files, a JWKS server and tokens, the app on real servers."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from token_issuer import KeyServer

from nocturnal.shared.events import parse
from nocturnal.upload.app import create_app
from nocturnal.upload.settings import UploadSettings

from .support import FileEvents, SettingsFactory, TokenFactory, image_bytes


@pytest.fixture(scope="session")
def samples() -> dict[str, bytes]:
    """Real files by name: jpeg, png, webp, pdf (from Pillow), gif, and non-images."""
    return {
        "jpeg": image_bytes("JPEG"),
        "png": image_bytes("PNG"),
        "webp": image_bytes("WEBP"),
        "pdf": image_bytes("PDF"),
        "gif": image_bytes("GIF"),
        "exe": b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(200),
        "zip": b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(200),
        "text": b"just some text, not a picture\n" * 20,
    }


@pytest.fixture(scope="session")
def aws_credentials() -> Iterator[None]:
    """The standard AWS variables, defaulting to moto's `testing` credentials."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            patch.setenv(name, os.environ.get(name, "testing"))
        yield


@pytest.fixture(scope="session")
async def issuer() -> AsyncIterator[KeyServer]:
    """auth's JWKS and revocation list on a real port (the upload app's `AUTH_URL`)."""
    async with KeyServer().serve() as server:
        yield server


@pytest.fixture
def closed_port_url() -> str:
    """A URL nothing listens on: the rate-limit client then decides locally (degraded)."""
    return "http://127.0.0.1:9"


@pytest.fixture
def make_settings(
    tmp_path: Path,
    mongo_url: str,
    amqp_url: str,
    events_exchange: str,
    issuer: KeyServer,
    closed_port_url: str,
) -> SettingsFactory:
    """Settings of this test: its own database and storage directory; keywords override."""

    def make(**overrides: Any) -> UploadSettings:
        values: dict[str, Any] = {
            "NOCTURNAL_ENV": "test",
            "instance_name": "upload-test",
            "mongo_url": mongo_url,
            "mongo_database": f"test_upload_{uuid.uuid4().hex[:12]}",
            "amqp_url": amqp_url,
            "events_exchange": events_exchange,
            "auth_url": issuer.base_url,
            "ratelimit_url": closed_port_url,
            "public_base_url": "http://gateway.test",
            "storage_backend": "local",
            "storage_local_dir": tmp_path / "objects",
        }
        return UploadSettings(**{**values, **overrides})

    return make


@pytest.fixture
def settings(make_settings: SettingsFactory) -> UploadSettings:
    """The default settings of this test (local storage)."""
    return make_settings()


@pytest.fixture
async def file_events(amqp_url: str, events_exchange: str) -> AsyncIterator[FileEvents]:
    """Collects `file.*` events (as api would consume them) from a queue of this test."""
    events = FileEvents()
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(
            events_exchange, aio_pika.ExchangeType.TOPIC, durable=True
        )
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        await queue.bind(exchange, "file.*")

        async def collect(message: aio_pika.abc.AbstractIncomingMessage) -> None:
            async with message.process():
                events.seen.append(parse(message.body))

        await queue.consume(collect)
        yield events


@pytest.fixture
async def client(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient]],
    settings: UploadSettings,
    file_events: FileEvents,
) -> TestClient:
    """The upload app (local storage) on the real MongoDB and RabbitMQ."""
    return await aiohttp_client(create_app(settings))


@pytest.fixture
def token(issuer: KeyServer) -> TokenFactory:
    """`token(user_id, role="doctor")`: a valid access token."""
    return issuer.token


@pytest.fixture
def user() -> str:
    """A fresh user id."""
    return uuid.uuid4().hex


@pytest.fixture
def auth(token: TokenFactory, user: str) -> dict[str, str]:
    """Authorization headers of `user`."""
    return {"Authorization": f"Bearer {token(user)}"}
