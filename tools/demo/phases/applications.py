"""Phases: clinicians apply; admins accept up to capacity, one at a time and in a race."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from tools.demo.cast import APPLICATIONS, DUTIES, OVERNIGHT, RACED
from tools.demo.context import DemoContext
from tools.demo.contract import need, page_items
from tools.demo.report import Section
from tools.demo.steps import EVENT_WAIT_S, poll, require, settle


async def apply_for_duties(ctx: DemoContext, section: Section) -> None:
    """Clinicians apply with a cover letter; duplicates and admins are refused."""
    require(bool(ctx.duties), "no duty was posted")

    async def apply(first: str, index: int) -> None:
        ctx.applications[(first, index)] = await submit_application(ctx, section, first, index)

    await settle(section, [apply(first, index) for first, index in APPLICATIONS])
    section.verify(
        f"{len(ctx.applications)} applications submitted (status PENDING)",
        len(APPLICATIONS),
        len(ctx.applications),
    )
    amara = ctx.member("Amara")
    path = f"/api/duties/{ctx.duty_id(OVERNIGHT)}/applications"
    reply = await ctx.client.send(
        "POST", path, token=amara.access_token, json_body={"cover_letter": "Applying twice."}
    )
    section.verify("a duplicate application is refused", "HTTP 409", f"HTTP {reply.status}")
    rahul = ctx.member("Rahul")
    reply = await ctx.client.send(
        "POST",
        f"/api/duties/{ctx.duty_id(1)}/applications",
        token=rahul.access_token,
        json_body={"cover_letter": "Me?"},
    )
    section.verify("a hospital admin cannot apply", "HTTP 403", f"HTTP {reply.status}")


async def submit_application(ctx: DemoContext, section: Section, first: str, index: int) -> str:
    member, plan, duty_id = ctx.member(first), DUTIES[index], ctx.duty_id(index)
    persona = member.persona
    letter = (
        f"Dear {plan.hospital_name} team, I am a {persona.role} in {persona.specialty} with "
        f"{persona.years_experience} years' experience and would like to cover {plan.title}."
    )
    body = await ctx.client.expect_json(
        "POST",
        f"/api/duties/{duty_id}/applications",
        201,
        token=member.access_token,
        json_body={"cover_letter": letter},
    )
    where = f"application of {persona.name} to {plan.title!r}"
    for key, expected in (
        ("duty_id", duty_id),
        ("applicant_id", member.user_id),
        ("status", "PENDING"),
    ):
        section.ensure(f"{where}: {key}", expected, body.get(key))
    return str(need(body, "id", where))


async def accept_to_capacity(ctx: DemoContext, section: Section) -> None:
    """Accepts stop at positions_needed, one at a time and under a concurrent race."""
    helen, rahul = ctx.member("Helen"), ctx.member("Rahul")
    overnight = ctx.duty_id(OVERNIGHT)
    amara_app = ctx.application_id("Amara", OVERNIGHT)
    reply = await ctx.client.send(
        "POST", f"/api/applications/{amara_app}/accept", token=rahul.access_token
    )
    section.verify(
        "another admin cannot accept on Helen's duty",
        "HTTP 403 or 404",
        f"HTTP {reply.status}",
        reply.status in (403, 404),
    )

    for first in ("Amara", "Tomás"):
        app_id = ctx.application_id(first, OVERNIGHT)
        body = await ctx.client.expect_json(
            "POST", f"/api/applications/{app_id}/accept", token=helen.access_token
        )
        section.verify(f"Helen accepts {first}", "ACCEPTED", body.get("status"))
    daniel_app = ctx.application_id("Daniel", OVERNIGHT)
    reply = await ctx.client.send(
        "POST", f"/api/applications/{daniel_app}/accept", token=helen.access_token
    )
    section.verify(
        "a third accept on a 2-position duty is refused (full)", "HTTP 409", f"HTTP {reply.status}"
    )
    await verify_filled(ctx, section, overnight, helen.access_token)
    reply = await ctx.client.send(
        "POST",
        f"/api/duties/{overnight}/applications",
        token=ctx.member("Grace").access_token,
        json_body={"cover_letter": "Still free?"},
    )
    section.verify("applying to a FILLED duty is refused", "HTTP 409", f"HTTP {reply.status}")

    await race_accepts(ctx, section)
    await check_applicant_views(ctx, section)


async def verify_filled(ctx: DemoContext, section: Section, duty_id: str, token: str) -> None:
    duty = await ctx.client.expect_json("GET", f"/api/duties/{duty_id}", token=token)
    got = f"status {duty.get('status')}, positions_filled {duty.get('positions_filled')}"
    section.verify(
        f"duty {duty.get('title')!r} shows FILLED 2/2", "status FILLED, positions_filled 2", got
    )


async def race_accepts(ctx: DemoContext, section: Section) -> None:
    rahul = ctx.member("Rahul")
    applicants = [first for first, index in APPLICATIONS if index == RACED]
    paths = [f"/api/applications/{ctx.application_id(f, RACED)}/accept" for f in applicants]
    replies = await asyncio.gather(
        *(ctx.client.send("POST", path, token=rahul.access_token) for path in paths)
    )
    statuses = Counter(reply.status for reply in replies)
    section.verify(
        f"{len(paths)} concurrent accepts on a 2-position duty",
        "2 x HTTP 200, the rest HTTP 409",
        ", ".join(f"{n} x HTTP {code}" for code, n in sorted(statuses.items())),
        statuses[200] == 2 and statuses[409] == len(paths) - 2,
    )
    await verify_filled(ctx, section, ctx.duty_id(RACED), rahul.access_token)
    body = await ctx.client.expect_json(
        "GET", f"/api/duties/{ctx.duty_id(RACED)}/applications", token=rahul.access_token
    )
    accepted = [
        a for a in page_items(body, "admin's applications") if a.get("status") == "ACCEPTED"
    ]
    section.verify("the admin's view shows exactly 2 ACCEPTED", 2, len(accepted))


async def check_applicant_views(ctx: DemoContext, section: Section) -> None:
    amara = ctx.member("Amara")
    body = await ctx.client.expect_json("GET", "/api/applications/me", token=amara.access_token)
    mine = {str(a.get("id")): a.get("status") for a in page_items(body, "my applications")}
    section.verify(
        "Amara sees her applications (ACCEPTED, PENDING)",
        {
            ctx.application_id("Amara", OVERNIGHT): "ACCEPTED",
            ctx.application_id("Amara", 1): "PENDING",
        },
        mine,
    )
    overnight = f"/api/duties/{ctx.duty_id(OVERNIGHT)}/applications"
    reply = await ctx.client.send("GET", overnight, token=amara.access_token)
    section.verify(
        "an applicant cannot read the admin's view",
        "HTTP 403 or 404",
        f"HTTP {reply.status}",
        reply.status in (403, 404),
    )

    async def probe() -> list[dict[str, Any]] | None:
        body = await ctx.client.expect_json("GET", "/api/notifications", token=amara.access_token)
        items = page_items(body, "GET /api/notifications")
        return items or None

    notes, waited = await poll(probe, EVENT_WAIT_S)
    section.verify(
        f"Amara is notified of the acceptance ({waited:.2f} s)",
        "a notification",
        f"none after {waited:.1f} s",
        bool(notes),
    )
