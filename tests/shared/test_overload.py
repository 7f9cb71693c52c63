"""Load shedding: the in-flight bound of every service, answered 503 + Retry-After, never queued."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from nocturnal.shared.config import ServiceSettings
from nocturnal.shared.http.app import create_service_app, json_response
from nocturnal.shared.http.overload import InFlightLimit
from nocturnal.shared.problems import Problem


class Gate:
    """A handler that holds every request until released, counting those inside it."""

    def __init__(self) -> None:
        self.inside = 0
        self.entered = asyncio.Condition()
        self.release = asyncio.Event()

    async def handler(self, _: web.Request) -> web.Response:
        async with self.entered:
            self.inside += 1
            self.entered.notify_all()
        await self.release.wait()
        return json_response({"ok": True})

    async def wait_inside(self, count: int) -> None:
        async with self.entered:
            await self.entered.wait_for(lambda: self.inside >= count)


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
async def client(aiohttp_client: Any, gate: Gate) -> TestClient:
    app = create_service_app(ServiceSettings(max_in_flight=2), service="test")
    app.router.add_get("/slow", gate.handler)
    return await aiohttp_client(app)


async def test_the_request_past_the_bound_is_shed_with_503_and_retry_after(
    client: TestClient, gate: Gate
) -> None:
    held = [asyncio.create_task(client.get("/slow")) for _ in range(2)]
    await gate.wait_inside(2)

    shed = await client.get("/slow")
    assert shed.status == 503
    assert shed.headers["Content-Type"].startswith("application/problem+json")
    assert shed.headers["Retry-After"] == "1"
    body = await shed.json(content_type=None)
    assert body["type"].endswith("/service-unavailable")
    assert "in progress" in body["detail"]
    assert gate.inside == 2  # the shed request never reached the handler

    gate.release.set()
    assert [(await task).status for task in held] == [200, 200]
    assert (await client.get("/slow")).status == 200  # the bound frees with the requests


async def test_probes_and_metrics_are_answered_while_the_bound_is_full(
    client: TestClient, gate: Gate
) -> None:
    held = [asyncio.create_task(client.get("/slow")) for _ in range(2)]
    await gate.wait_inside(2)

    assert (await client.get("/health/live")).status == 200
    metrics = await (await client.get("/metrics")).text()
    assert 'work_in_flight{bound="requests",service="test"} 2.0' in metrics

    gate.release.set()
    await asyncio.gather(*held)


async def test_a_failing_request_frees_its_place() -> None:
    limit = InFlightLimit(1, service="test", bound="jobs", detail="busy")
    with pytest.raises(RuntimeError), limit.admit():
        raise RuntimeError("handler failed")
    with limit.admit():
        assert limit.in_flight == 1
    assert limit.in_flight == 0


async def test_requests_ending_in_any_way_give_their_place_back(aiohttp_client: Any) -> None:
    async def refuse(request: web.Request) -> None:
        if request.path == "/guarded":
            raise Problem(429)

    async def failing(_: web.Request) -> web.Response:
        raise RuntimeError("handler failed")

    async def ok(_: web.Request) -> web.Response:
        return json_response({"ok": True})

    async def hanging(_: web.Request) -> web.Response:
        await asyncio.Event().wait()
        raise AssertionError("never released")

    app = create_service_app(ServiceSettings(max_in_flight=1), service="test", guard=refuse)
    app.router.add_get("/failing", failing)
    app.router.add_get("/guarded", failing)
    app.router.add_get("/hanging", hanging)
    app.router.add_get("/ok", ok)
    client: TestClient = await aiohttp_client(app)

    assert (await client.get("/failing")).status == 500
    assert (await client.get("/guarded")).status == 429
    assert (await client.get("/ok", headers={"Content-Encoding": "gzip"})).status == 415
    with pytest.raises(asyncio.TimeoutError):  # the client gives up: the handler is cancelled
        await client.get("/hanging", timeout=aiohttp.ClientTimeout(total=0.3))
    for _ in range(50):
        if (await client.get("/ok")).status == 200:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the cancelled request kept its place")
    metrics = await (await client.get("/metrics")).text()
    assert 'work_in_flight{bound="requests",service="test"} 0.0' in metrics


def test_a_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match=">= 1"):
        InFlightLimit(0, service="test", bound="jobs", detail="busy")
    with pytest.raises(ValueError, match="max_in_flight"):
        ServiceSettings(max_in_flight=0)


def test_a_full_limit_refuses_at_once_with_its_detail() -> None:
    limit = InFlightLimit(1, service="test", bound="jobs", detail="all jobs busy")
    with limit.admit(), pytest.raises(Problem) as refused, limit.admit():
        pass
    assert refused.value.status == 503
    assert refused.value.detail == "all jobs busy"
    assert refused.value.headers == {"Retry-After": "1"}
