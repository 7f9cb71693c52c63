"""tools.devstack.servers: reuse what answers, start only what is missing, stop only what it started."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import redis

from tools.devstack import (
    StackError,
    amqp_answers,
    create_bucket,
    ensure_mongo,
    ensure_redis,
    free_ports,
    http_ok,
    mongo_answers,
    redis_answers,
)


@pytest.mark.integration
@pytest.mark.skipif(shutil.which("redis-server") is None, reason="redis-server is not installed")
def test_a_redis_it_starts_is_its_own_child_and_stops_with_it(tmp_path: Path) -> None:
    [port] = free_ports(1)
    url = f"redis://127.0.0.1:{port}/0"

    server = ensure_redis(url, tmp_path / "redis.log")
    try:
        assert server.child is not None
        assert redis_answers(url)
        # The runbook's hung-Redis drill: DEBUG SLEEP works on a Redis devstack started.
        with redis.Redis.from_url(url) as client:
            assert client.execute_command("DEBUG", "SLEEP", "0") in (b"OK", "OK")
    finally:
        server.stop()

    assert not redis_answers(url)


@pytest.mark.integration
def test_a_server_that_answers_is_reused_and_never_stopped(redis_server: str) -> None:
    server = ensure_redis(redis_server, Path("/nonexistent/redis.log"))

    assert server.child is None
    assert server.origin == "reused"


def test_a_remote_server_that_does_not_answer_is_an_error_naming_its_variable(
    tmp_path: Path,
) -> None:
    # 127.0.0.2 is loopback (refused at once) but not a host the runner may start servers for.
    [port] = free_ports(1)

    with pytest.raises(
        StackError, match=r"redis does not answer at .*; start one or set REDIS_URL"
    ):
        ensure_redis(f"redis://:secret@127.0.0.2:{port}/0", tmp_path / "redis.log")


@pytest.mark.integration
def test_a_mongo_url_that_does_not_answer_gets_a_secantusdb_instead(tmp_path: Path) -> None:
    [port] = free_ports(1)

    server = ensure_mongo(f"mongodb://127.0.0.1:{port}/", ":memory:", tmp_path / "mongo.log")
    try:
        assert server.child is not None
        assert mongo_answers(server.url)
    finally:
        server.stop()

    assert not mongo_answers(server.url, timeout=0.5)


@pytest.mark.integration
def test_creating_a_bucket_twice_is_fine(s3_endpoint_url: str) -> None:
    bucket = f"devstack-{free_ports(1)[0]}"

    create_bucket(s3_endpoint_url, bucket)
    create_bucket(s3_endpoint_url, bucket)

    assert http_ok(f"{s3_endpoint_url}/{bucket}")


@pytest.mark.integration
def test_backing_server_fixtures_answer(mongo_url: str, redis_url: str, amqp_url: str) -> None:
    assert mongo_answers(mongo_url)
    assert redis_answers(redis_url)
    assert amqp_answers(amqp_url)
