"""Domain and use-case errors answered as problems through one table per service."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from pymongo.errors import NetworkTimeout

from nocturnal.shared.config import ServiceSettings
from nocturnal.shared.http.app import create_service_app
from nocturnal.shared.http.errors import ProblemOf
from nocturnal.shared.mongo_errors import CommitOutcomeUnknown
from nocturnal.shared.paging import InvalidCursor


class Missing(Exception):
    pass


class Taken(Exception):
    pass


class AlreadyTaken(Taken):
    pass


def raising(error: Exception) -> Any:
    async def handler(_: web.Request) -> web.Response:
        raise error

    return handler


async def test_errors_in_the_table_become_their_problems_and_others_stay_500(
    aiohttp_client: Any,
) -> None:
    app = create_service_app(
        ServiceSettings(),
        service="test",
        problems={Missing: ProblemOf(404, lambda e: f"no {e}"), Taken: ProblemOf(409, "taken")},
    )
    for path, error in [
        ("/missing", Missing("duty")),
        ("/subclass", AlreadyTaken()),
        ("/cursor", InvalidCursor("bad")),
        ("/bug", KeyError("x")),
    ]:
        app.router.add_get(path, raising(error))
    client: TestClient = await aiohttp_client(app)

    missing = await client.get("/missing")
    assert (missing.status, (await missing.json())["detail"]) == (404, "no duty")
    assert (await client.get("/subclass")).status == 409
    cursor = await (await client.get("/cursor")).json()
    assert (cursor["status"], cursor["errors"]) == (
        400,
        [{"field": "cursor", "message": "invalid cursor"}],
    )
    bug = await client.get("/bug")
    assert bug.status == 500
    assert bug.headers["Content-Type"].startswith("application/problem+json")


async def test_a_database_outage_is_a_503_and_an_unknown_commit_says_the_change_may_be_stored(
    aiohttp_client: Any,
) -> None:
    app = create_service_app(ServiceSettings(), service="test", problems={})
    app.router.add_get("/down", raising(NetworkTimeout("timed out")))
    app.router.add_get("/unknown", raising(CommitOutcomeUnknown("not confirmed")))
    client: TestClient = await aiohttp_client(app)

    for path, detail in [
        ("/down", "the database is unavailable; retry later"),
        (
            "/unknown",
            "the database did not confirm the change in time: it may have been stored;"
            " check before repeating it",
        ),
    ]:
        resp = await client.get(path)
        assert (resp.status, resp.headers["Retry-After"]) == (503, "5")
        assert (await resp.json())["detail"] == detail
