"""Phase: the gateway answers health checks from every api instance and keeps request ids."""

from __future__ import annotations

from collections import Counter

from tools.demo.context import DemoContext
from tools.demo.contract import need
from tools.demo.report import Section


async def check_gateway(ctx: DemoContext, section: Section) -> None:
    """GET /api/health ten times: shape, instance spread, request ids set or echoed."""
    instances: Counter[str] = Counter()
    for _ in range(10):
        body = await ctx.client.expect_json("GET", "/api/health")
        for key in ("status", "service", "instance", "version"):
            need(body, key, "GET /api/health")
        instances[str(body["instance"])] += 1
    section.passed("10 x GET /api/health -> 200 {status, service, instance, version}")
    spread = ", ".join(f"{name} x{count}" for name, count in instances.most_common())
    section.note(f"instances answering: {len(instances)} ({spread})")

    mine = f"demo-{ctx.run_id}-health"
    reply = await ctx.client.expect("GET", "/api/health", 200, headers={"X-Request-ID": mine})
    section.verify("a client-supplied X-Request-ID is kept", mine, reply.request_id)
