"""Phases: admins post duties with computed pay; clinicians list them page by page."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

from tools.demo.cast import DUTIES, OVERNIGHT, PLATFORM_FEE_PERCENT, DutyPlan
from tools.demo.context import DemoContext
from tools.demo.contract import amount_is, need, page_items
from tools.demo.report import DivergenceError, Section
from tools.demo.steps import require, settle


async def post_duties(ctx: DemoContext, section: Section) -> None:
    """Admins post ten duties; the platform computes hours and pay, overnight shifts included."""
    require({"Helen", "Rahul", "Amara"} <= ctx.members.keys(), "admins or Amara not registered")
    amara = ctx.member("Amara")
    reply = await ctx.client.send(
        "POST", "/api/duties", token=amara.access_token, json_body=DUTIES[1].payload(ctx.today)
    )
    section.verify("a doctor cannot post a duty", "HTTP 403", f"HTTP {reply.status}")

    async def post(index: int) -> tuple[int, dict[str, Any]]:
        return index, await post_duty(ctx, section, DUTIES[index])

    posted = await settle(section, [post(i) for i in range(len(DUTIES))])
    ctx.duties = dict(posted)
    section.verify(
        f"{len(posted)} duties posted by 2 admins (status OPEN, positions_filled 0)",
        len(DUTIES),
        len(posted),
    )
    plan = DUTIES[OVERNIGHT]
    section.note(
        f"overnight {plan.start_time}->{plan.end_time}: {plan.expected_hours} h x "
        f"{plan.hourly_rate} = {plan.expected_total:.2f}, fee {PLATFORM_FEE_PERCENT} %, "
        f"net {plan.expected_net:.2f}"
    )


async def post_duty(ctx: DemoContext, section: Section, plan: DutyPlan) -> dict[str, Any]:
    admin = ctx.member(plan.poster)
    payload = plan.payload(ctx.today)
    duty = await ctx.client.expect_json(
        "POST", "/api/duties", 201, token=admin.access_token, json_body=payload
    )
    where = f"duty {plan.title!r}"
    need(duty, "id", where)
    for key in ("title", "positions_needed", "urgency", "date", "start_time"):
        section.ensure(
            f"{where}: {key}",
            payload[key],
            duty.get(key),
            str(duty.get(key)).startswith(str(payload[key])),
        )
    section.ensure(f"{where}: status", "OPEN", duty.get("status"))
    section.ensure(f"{where}: positions_filled", 0, duty.get("positions_filled"))
    money = (
        ("duration_hours", Decimal(plan.expected_hours)),
        ("total_compensation", plan.expected_total),
        ("platform_fee_percent", PLATFORM_FEE_PERCENT),
        ("net_payment", plan.expected_net),
    )
    for key, expected in money:
        section.ensure(
            f"{where}: {key}", expected, duty.get(key), amount_is(duty.get(key), expected)
        )
    return duty


async def list_duties(ctx: DemoContext, section: Section) -> None:
    """GET /api/duties: cursor pages, soonest first, filters, limit bounds."""
    require(bool(ctx.duties), "no duty was posted")
    token = ctx.member("Grace").access_token
    dates = [(ctx.today + timedelta(days=plan.day)).isoformat() for plan in DUTIES]
    window = {"date_from": min(dates), "date_to": max(dates)}
    items, pages = await walk_duty_pages(ctx, token, window)
    section.note(f"{len(items)} duties between {min(dates)} and {max(dates)} in {pages} pages")
    section.verify(
        f"cursor pagination walked {pages} pages", "more than one page", pages, pages > 1
    )
    ids = [str(item.get("id")) for item in items]
    section.verify("no duty repeated across pages", len(ids), len(set(ids)))
    missing = [ctx.duties[i]["title"] for i in ctx.duties if str(ctx.duties[i]["id"]) not in ids]
    section.verify("every posted duty is listed", [], missing)
    keys = [schedule_key(item) for item in items]
    out_of_order = next(((a, b) for a, b in itertools.pairwise(keys) if a > b), None)
    section.verify(
        "duties come soonest first",
        "(date, start_time) ascending",
        f"{out_of_order[0]} before {out_of_order[1]}" if out_of_order else "",
        out_of_order is None,
    )

    params = {**window, "urgency": "EMERGENCY", "limit": 100}
    body = await ctx.client.expect_json("GET", "/api/duties", token=token, params=params)
    urgent = page_items(body, "GET /api/duties?urgency=EMERGENCY")
    wrong = {str(item.get("urgency")) for item in urgent} - {"EMERGENCY"}
    ours = {str(ctx.duties[i]["id"]) for i in ctx.duties if DUTIES[i].urgency == "EMERGENCY"}
    listed = {str(item.get("id")) for item in urgent}
    section.verify(
        "filter urgency=EMERGENCY",
        "only EMERGENCY, ours included",
        f"other urgencies {sorted(wrong)}, ours missing {sorted(ours - listed)}",
        not wrong and ours <= listed,
    )
    for limit in (0, 101):
        reply = await ctx.client.send("GET", "/api/duties", token=token, params={"limit": limit})
        section.verify(f"limit={limit} is refused (1-100)", "HTTP 400", f"HTTP {reply.status}")


async def walk_duty_pages(
    ctx: DemoContext, token: str, window: Mapping[str, str]
) -> tuple[list[dict[str, Any]], int]:
    """All duties in the window: a small first page proves the cursor, then full pages."""
    items: list[dict[str, Any]] = []
    params: dict[str, str | int] = {**window, "limit": 4}
    for page in range(1, 60):
        body = await ctx.client.expect_json("GET", "/api/duties", token=token, params=params)
        items += page_items(body, "GET /api/duties")
        cursor = body["next_cursor"]
        if not cursor:
            return items, page
        params = {**window, "limit": 100, "cursor": str(cursor)}
    raise DivergenceError("GET /api/duties", "the last page within 60 pages", "more pages")


def schedule_key(duty: Mapping[str, Any]) -> tuple[str, str]:
    return str(duty.get("date", ""))[:10], str(duty.get("start_time", ""))[:5]
