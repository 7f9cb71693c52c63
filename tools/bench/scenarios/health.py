"""P2: GET /api/health on one api instance against the bare aiohttp + uvloop hello route."""

from __future__ import annotations

from tools.bench.context import Closed, Run, alternate
from tools.bench.loadgen import Request
from tools.bench.results import Figure, Target
from tools.bench.targets import P2_VS_BARE


def versus_bare(
    run: Run, scenario: str, name: str, request: Request, what: str, target: Target
) -> dict[str, list[Closed]]:
    """wrk on `request` and on the bare hello route in alternating rounds; adds the figure."""

    def measure(label: str, subject: Request, number: int) -> Closed:
        closed = run.closed(subject, warmup=number == 0)
        run.say(f"{scenario} round {number + 1}: {label:8s} {closed.rps:7.0f} req/s")
        return closed

    bare = Request("GET", f"{run.bed.bare_url}/hello")
    results = alternate(
        run.settings.rounds,
        {
            name: lambda number: measure(name, request, number),
            "bare": lambda number: measure("bare", bare, number),
        },
    )
    run.add(
        Figure(
            key=f"{scenario} {name}",
            what=what,
            unit="req/s",
            values=[closed.rps for closed in results[name]],
            baseline="bare aiohttp route",
            baseline_values=[closed.rps for closed in results["bare"]],
            target=target,
        )
    )
    return results


def run_p2(run: Run) -> None:
    """Measure P2 in alternating rounds and add its figure."""
    health = Request("GET", f"{run.instance_url('api')}/api/health")
    results = versus_bare(
        run, "P2", "health", health, "GET /api/health, 1 api instance", P2_VS_BARE
    )
    run.details["P2"] = {name: [c.to_json() for c in runs] for name, runs in results.items()}
    run.profile("P2", ("api-1",), lambda: run.drive(health))
