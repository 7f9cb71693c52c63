"""The targets of issue 6, item 3, in one place: each figure is printed beside its target."""

from __future__ import annotations

from tools.bench.results import Target

P1_VS_NODE = Target("≥ 2.0x Node stack", "ratio", ">=", 2.0)
P2_VS_BARE = Target("≥ 0.5x bare route", "ratio", ">=", 0.5)
P3_VS_BARE = Target("≥ 0.5x bare route", "ratio", ">=", 0.5)
P3_P99_MS = Target("p99 ≤ 5 ms", "value", "<=", 5.0)
P3_CHECK_SHARE = Target("≤ 20 % of api latency", "value", "<=", 20.0)
P5_THROUGHPUT = Target("≥ 0.8x direct aioboto3", "ratio", ">=", 0.8)
P6_P95_MS = Target("p95 ≤ 100 ms at 100 events/s", "value", "<=", 100.0)
P7_PER_CORE = Target("≥ 40 logins/s per core", "value", ">=", 40.0)
FAULT_P99 = Target("≤ 2x p99 before", "ratio", "<=", 2.0)
OVERLOAD_SHED = Target("shed, bounded, flat (1 = yes)", "value", ">=", 1.0)


def p5_rss_per_upload(part_mib: float) -> Target:
    """RSS growth per concurrent upload ≤ 2 x the S3 multipart part size."""
    return Target(f"≤ 2 x part ({2 * part_mib:g} MiB)", "value", "<=", 2 * part_mib)
