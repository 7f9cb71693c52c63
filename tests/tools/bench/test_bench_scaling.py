"""The projection to 3 and 10 instances from the CPU each component spent per request."""

from __future__ import annotations

from tools.bench.context import Closed
from tools.bench.processes import CpuUse
from tools.bench.scenarios.scaling import project
from tools.bench.wrk import WrkResult


def _row(api_s: float, redis_s: float, requests: int = 1000) -> Closed:
    wrk = WrkResult(requests, 10.0, 0, 0, 1.0, 5.0)
    cpu = CpuUse(10.0, {"api-1": api_s, "ratelimit-1": 0.4, "redis": redis_s, "gateway": 0.1})
    return Closed(wrk, cpu)


def test_projection_scales_with_api_instances_at_the_hpa_target() -> None:
    # 2 ms of api CPU per request: one core at 70 % serves 350 requests/s.
    rows = project(_row(api_s=2.0, redis_s=0.01))["rows"]

    assert [row["rps"] for row in rows] == [350, 1050, 3500]
    assert all(row["limited_by"] == "api CPU" for row in rows)
    # 0.4 ms of ratelimit CPU per check: 3500/s needs 3500 * 0.0004 / 0.7 = 2 pods.
    assert rows[-1]["ratelimit_instances"] == 2


def test_projection_stops_where_one_redis_core_would_be_at_the_target() -> None:
    # 0.5 ms of Redis CPU per request: one Redis at 70 % handles 1400 requests/s.
    rows = project(_row(api_s=2.0, redis_s=0.5))["rows"]

    assert rows[-1]["rps"] == 1400
    assert rows[-1]["limited_by"] == "Redis (one core)"
