"""tools.demo.cli: `make demo` against a gateway that is not there stops at once and fails."""

from __future__ import annotations

import subprocess
import sys

from tools.devstack import ROOT, free_ports


def test_make_demo_without_a_gateway_stops_at_the_first_phase_and_exits_1() -> None:
    [closed_port] = free_ports(1)
    result = subprocess.run(
        [sys.executable, "-m", "tools.demo", "--base-url", f"http://127.0.0.1:{closed_port}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 1
    assert f"gateway unreachable at http://127.0.0.1:{closed_port}" in result.stdout
    assert "== Every response" in result.stdout
    assert "== Registration" not in result.stdout
    assert result.stdout.rstrip().endswith("RESULT: FAILED")
