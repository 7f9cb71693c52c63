"""P1: authenticated GET /api/duties/{id} on one api instance, directly and through the
gateway, against the original Node stack on the same SecantusDB and Redis."""

from __future__ import annotations

import functools

from tools.bench.context import Closed, Run, alternate
from tools.bench.loadgen import Request
from tools.bench.results import Figure
from tools.bench.targets import P1_VS_NODE


def duty_requests(run: Run) -> dict[str, Request]:
    """The P1 subjects by name: node (when it runs), direct, gateway."""
    path = f"/api/duties/{run.duty_id}"
    bearer = run.bearer(run.admin)
    requests = {}
    if run.seed is not None:
        node_auth = {"Authorization": f"Bearer {run.seed.token}"}
        requests["node"] = Request(
            "GET", f"{run.seed.url}/api/duties/{run.seed.duty_id}", node_auth
        )
    requests["direct"] = Request("GET", f"{run.instance_url('api')}{path}", bearer)
    requests["gateway"] = Request("GET", f"{run.stack.base_url}{path}", bearer)
    return requests


def _measure(run: Run, name: str, request: Request, round_number: int) -> Closed:
    closed = run.closed(request, warmup=round_number == 0)
    errors = (
        ""
        if closed.wrk.clean
        else f"  ({closed.wrk.non_2xx} non-2xx, {closed.wrk.socket_errors} socket errors)"
    )
    run.say(
        f"P1 round {round_number + 1}: {name:8s} {closed.rps:7.0f} req/s; "
        f"busiest {closed.cpu.busiest()}{errors}"
    )
    return closed


def _quality(runs: list[Closed]) -> str:
    bad = sum(not closed.wrk.clean for closed in runs)
    return f"{bad} run(s) had errors (see JSON)" if bad else ""


def run_p1(run: Run) -> dict[str, list[Closed]]:
    """Measure P1 in alternating rounds; add its figures; return the runs by subject."""
    requests = duty_requests(run)
    results = alternate(
        run.settings.rounds,
        {
            name: functools.partial(_measure, run, name, request)
            for name, request in requests.items()
        },
    )
    node = [closed.rps for closed in results.get("node", [])]
    note = run.seed_note or ""
    for name, label in (("direct", "directly"), ("gateway", "through the gateway")):
        rps = [closed.rps for closed in results[name]]
        run.add(
            Figure(
                key=f"P1 {name}",
                what=f"GET /api/duties/{{id}}, 1 api instance, {label}",
                unit="req/s",
                values=rps,
                baseline="Node stack" if node else None,
                baseline_values=node,
                target=P1_VS_NODE,
                note="; ".join(filter(None, [note, _quality(results[name])])),
            )
        )
    run.add(
        Figure(
            key="P1 api CPU",
            what="api CPU per request (direct; Node: whole process)",
            unit="ms/req",
            values=[closed.ms_per_request("api") for closed in results["direct"]],
            baseline="Node stack" if node else None,
            baseline_values=[closed.ms_per_request("node") for closed in results.get("node", [])],
        )
    )
    ours = ("api", "ratelimit", "redis", "mongo")
    run.add(
        Figure(
            key="P1 all CPU",
            what="CPU per request of every process on the path (api+ratelimit+Redis+DB)",
            unit="ms/req",
            values=[sum(c.ms_per_request(n) for n in ours) for c in results["direct"]],
            baseline="Node stack (node+Redis+DB)" if node else None,
            baseline_values=[
                sum(c.ms_per_request(n) for n in ("node", "redis", "mongo"))
                for c in results.get("node", [])
            ],
            note="the steadiest P1 ratio on a shared machine: throughput at saturation ~ 1/CPU",
        )
    )
    run.add(
        Figure(
            key="P1 ratelimit CPU",
            what="ratelimit CPU per api request (direct)",
            unit="ms/req",
            values=[closed.ms_per_request("ratelimit") for closed in results["direct"]],
        )
    )
    run.details["P1"] = {name: [c.to_json() for c in runs] for name, runs in results.items()}
    direct = duty_requests(run)["direct"]
    run.profile("P1", ("api-1", "ratelimit-1", "mongo"), lambda: run.drive(direct))
    return results
