"""Demo scenario: drives the public HTTP API through the gateway and checks it against DESIGN §1.

Hospital admins and clinicians register, upload profile photos, post duties, apply, accept up to
capacity and get throttled on a burst of bad logins, all over real HTTP through the gateway.
Every deviation from the contract is collected as a divergence (expected vs got) in a
`DemoReport`; `make demo` prints it and exits non-zero when there is any.

Usage: ``uv run python -m tools.demo [--base-url URL]`` (default ``$GATEWAY_URL`` or
http://localhost:8080). The e2e tests call `run_demo(base_url)` directly and assert each phase's
section on its own.

Modules, one concern each: `report` (sections, divergences, rendering), `client` (the HTTP
client and its envelope audit), `contract` (reading bodies against DESIGN §1), `steps`
(concurrent, polled and conditional steps), `cast` (personas, duties, applications), `photos`
(Pillow portraits), `context` (state shared by a run's phases), `phases` (the scenario, one
module per part, in `PHASES` order), `runner` (`run_demo`), `cli` (`make demo`).
"""

from tools.demo.client import GatewayClient, Reply, problem_issues
from tools.demo.phases import PHASES
from tools.demo.report import DemoReport, Section
from tools.demo.runner import ENVELOPES, run_demo

__all__ = [
    "ENVELOPES",
    "PHASES",
    "DemoReport",
    "GatewayClient",
    "Reply",
    "Section",
    "problem_issues",
    "run_demo",
]
