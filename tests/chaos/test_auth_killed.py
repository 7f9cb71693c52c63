"""auth SIGKILLed (its only instance) under steady load through the gateway: tokens already
issued keep working (api verifies them with the JWKS it holds), sign-ins answer a 503 problem
with `Retry-After` (no instance takes them), and sign-ins work again once auth is back and the
gateway tries it again."""

from __future__ import annotations

import pytest

from chaos.driver import SteadyLoad, Step, register, standard_mix
from chaos.report import record
from chaos.servers import instances_of, kill, respawn, wait_exited
from tools.devstack import Stack

# Each waits for a recovery bounded by the servers (a 60 s transaction lifetime at most).
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]


async def test_auth_killed_under_load(chaos_stack: Stack) -> None:
    token, account = await register(chaos_stack.base_url)
    credentials = {"email": account["email"], "password": account["password"]}
    login = Step("login", "POST", "/api/auth/login", body=lambda _: credentials)
    mix = standard_mix(token)
    load = SteadyLoad(chaos_stack.base_url, [*mix, *mix, login])
    [auth] = instances_of(chaos_stack, "auth")
    async with load.running():
        await load.settle(3.0)
        load.phase = "during"
        kill(auth)
        await wait_exited(auth)
        await load.settle(4.0)
        await respawn(chaos_stack, auth)
        # The gateway sends sign-ins to its backup (503) until the instance's passive health
        # check (fail_timeout, 10 s) lets it try the instance again.
        first = len(load.outcomes)
        await load.wait_for(
            lambda: any(o.step == "login" and o.status == 200 for o in load.outcomes[first:]),
            "a sign-in succeeding again",
            within_s=30,
        )
        load.phase = "after"
        await load.settle(4.0)
    record("auth SIGKILL", load)

    load.assert_only(allowed={503})
    with_token = [o for o in load.outcomes if o.step != "login" and o.status not in (200, 201)]
    assert with_token == [], [o.describe() for o in with_token[:10]]
    logins = {
        phase: load.statuses(o for o in load.in_phase(phase) if o.step == "login")
        for phase in ("before", "during", "after")
    }
    assert set(logins["before"]) == {"login 200"}, logins
    assert logins["during"]["login 503"] > 0, logins
    assert set(logins["after"]) == {"login 200"}, logins
