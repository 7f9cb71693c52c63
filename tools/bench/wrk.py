"""Closed-loop throughput with wrk (Debian's package): requests/s at saturation, and its errors.

wrk keeps `connections` requests in flight and sends the next as soon as one returns, so its
requests/s is the most the target serves at that concurrency. Its latency figures are those of
a closed loop (coordinated omission): the bench takes latency percentiles from `loadgen`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from tools.bench.loadgen import Request

MARKER = "WRK_JSON "

# wrk calls done() once, after the run; it prints one JSON line the bench parses.
_DONE = """
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '%s{"requests":%d,"duration_us":%d,"bytes":%d,"connect":%d,"read":%d,"write":%d,' ..
    '"status":%d,"timeout":%d,"p50_us":%d,"p99_us":%d}\\n',
    "__MARKER__", summary.requests, summary.duration, summary.bytes, e.connect, e.read,
    e.write, e.status, e.timeout, latency:percentile(50), latency:percentile(99)))
end
"""


# Each request takes the next of several bodies (wrk.format: the default method, path, headers).
_BODIES = """
local bodies = {__BODIES__}
local next_body = 0
request = function()
  next_body = next_body % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[next_body])
end
"""


@dataclass(frozen=True)
class WrkResult:
    """One wrk run: requests/s over the run, non-2xx/3xx answers and socket errors."""

    requests: int
    duration_s: float
    non_2xx: int
    socket_errors: int
    closed_p50_ms: float
    closed_p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def ok(self) -> int:
        """Requests answered 2xx/3xx."""
        return self.requests - self.non_2xx

    @property
    def clean(self) -> bool:
        """True when every request got a 2xx/3xx answer (a run with errors measures them)."""
        return self.non_2xx == 0 and self.socket_errors == 0


def wrk_binary() -> str | None:
    """The wrk executable, or None when it is not installed."""
    return shutil.which("wrk")


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for ASCII


def lua_script(request: Request) -> str:
    """The wrk script sending `request` (method, headers, body) and reporting as JSON."""
    lines = [f"wrk.method = {_lua_string(request.method)}"]
    for name, value in request.headers.items():
        lines.append(f"wrk.headers[{_lua_string(name)}] = {_lua_string(value)}")
    if request.body is not None:
        lines.append(f"wrk.body = {_lua_string(request.body.decode('ascii'))}")
    if request.bodies:
        listed = ", ".join(_lua_string(body.decode("ascii")) for body in request.bodies)
        lines.append(_BODIES.replace("__BODIES__", listed))
    return "\n".join(lines) + _DONE.replace("__MARKER__", MARKER)


def parse_output(stdout: str) -> WrkResult:
    """The result from wrk's output (the JSON line the script's done() printed).

    Raises:
        RuntimeError: no such line (wrk failed before the end of the run).
    """
    for line in stdout.splitlines():
        if line.startswith(MARKER):
            data: Mapping[str, int] = json.loads(line[len(MARKER) :])
            socket_errors = sum(data[k] for k in ("connect", "read", "write", "timeout"))
            return WrkResult(
                requests=data["requests"],
                duration_s=data["duration_us"] / 1e6,
                non_2xx=data["status"],
                socket_errors=socket_errors,
                closed_p50_ms=data["p50_us"] / 1000,
                closed_p99_ms=data["p99_us"] / 1000,
            )
    raise RuntimeError(f"wrk printed no result:\n{stdout[-2000:]}")


def run_wrk(
    request: Request,
    *,
    duration_s: float,
    connections: int,
    work_dir: Path,
    threads: int = 1,
    timeout_s: float = 5.0,
) -> WrkResult:
    """Drive `request` with wrk for `duration_s` seconds over `connections` connections.

    Raises:
        RuntimeError: wrk is missing or failed.
    """
    binary = wrk_binary()
    if binary is None:
        raise RuntimeError("wrk is not installed (bash tools/bootstrap.sh --bench)")
    work_dir.mkdir(parents=True, exist_ok=True)
    script = work_dir / "wrk-request.lua"
    script.write_text(lua_script(request))
    argv = [
        binary,
        f"-t{threads}",
        f"-c{connections}",
        f"-d{max(1, round(duration_s))}s",
        f"--timeout={timeout_s:g}s",
        "-s",
        str(script),
        request.url,
    ]
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=duration_s + 60, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"wrk failed ({result.returncode}):\n{result.stderr[-2000:]}")
    return parse_output(result.stdout)
