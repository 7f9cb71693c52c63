"""What a bench run measures and for how long: the command line, then the environment.

Full run (`make bench`): every scenario, alternating rounds, within ~15 minutes on 2 cores.
Quick run (`BENCH_QUICK=1`): shorter runs and smaller uploads, for before/after ratios while
working on speed; `BENCH_ONLY=P1,P3` picks scenarios in either mode.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.devstack import ROOT

SCENARIOS = ("P1", "P2", "P3", "P5", "P6", "P7", "FAULTS", "SCALING")
MiB = 1024 * 1024


@dataclass(frozen=True)
class BenchSettings:
    """One run's plan. Durations in seconds, sizes in MiB, rates in requests (events)/s."""

    scenarios: tuple[str, ...] = SCENARIOS
    quick: bool = False
    rounds: int = 2  # alternating rounds of every figure with a baseline (A, B, A, B)
    duration_s: float = 8.0  # one closed-loop (wrk) run
    warmup_s: float = 2.0
    connections: int = 32  # wrk connections (the seed README's -c32)
    open_loop_s: float = 8.0  # one open-loop run at a fixed rate
    upload_count: int = 20
    upload_mib: int = 50
    big_upload_mib: int = 200
    upload_rounds: int = 2
    events_rate: float = 100.0
    events_s: float = 10.0
    relay_backlog: int = 300
    scaling_rows: tuple[tuple[int, int], ...] = ((1, 1), (2, 1), (1, 2), (2, 2))
    profile: bool = False
    profile_s: float = 10.0
    seed_stack_dir: Path | None = None
    out_dir: Path = ROOT / "bench-results"
    run_dir: Path = ROOT / ".run" / "bench"

    def wants(self, scenario: str) -> bool:
        return scenario in self.scenarios


QUICK = {
    "rounds": 2,
    "duration_s": 3.0,
    "warmup_s": 1.0,
    "open_loop_s": 4.0,
    "upload_count": 5,
    "upload_rounds": 1,
    "events_s": 4.0,
    "relay_backlog": 100,
    "scaling_rows": ((1, 1), (2, 1)),
    "profile_s": 5.0,
}


def _flag(environ: Mapping[str, str], name: str) -> bool:
    return environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _scenarios(text: str) -> tuple[str, ...]:
    wanted = tuple(part.strip().upper() for part in text.split(",") if part.strip())
    unknown = [name for name in wanted if name not in SCENARIOS]
    if unknown:
        raise ValueError(
            f"unknown scenario {', '.join(unknown)}; choose from {', '.join(SCENARIOS)}"
        )
    return wanted


def settings_from_cli(argv: Sequence[str] | None, environ: Mapping[str, str]) -> BenchSettings:
    """Settings from the command line, then BENCH_* and SEED_STACK_DIR, then the defaults.

    Raises:
        ValueError: an unknown scenario name or a seed-stack folder without app.js.
    """
    parser = argparse.ArgumentParser(
        prog="python -m tools.bench",
        description="Benchmark Nocturnal against same-run baselines; writes bench-results/.",
    )
    parser.add_argument("--quick", action="store_true", help="short runs (env BENCH_QUICK=1)")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(SCENARIOS)}")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="py-spy profiles of every scenario (env BENCH_PROFILE=1)",
    )
    parser.add_argument("--seed-stack", type=Path, help="the original Node stack's folder")
    parser.add_argument("--out", type=Path, help="results folder (default bench-results/)")
    args = parser.parse_args(argv)

    quick = args.quick or _flag(environ, "BENCH_QUICK")
    only = args.only or environ.get("BENCH_ONLY", "")
    seed = args.seed_stack or (
        Path(environ["SEED_STACK_DIR"]) if environ.get("SEED_STACK_DIR") else None
    )
    if seed is not None and not (seed / "app.js").is_file():
        raise ValueError(f"SEED_STACK_DIR {seed} has no app.js")
    base = BenchSettings(**QUICK) if quick else BenchSettings()  # type: ignore[arg-type]
    return BenchSettings(
        **{
            **base.__dict__,
            "scenarios": _scenarios(only) if only else base.scenarios,
            "quick": quick,
            "profile": args.profile or _flag(environ, "BENCH_PROFILE"),
            "seed_stack_dir": seed.resolve() if seed else None,
            "out_dir": (args.out or Path(environ.get("BENCH_OUT") or base.out_dir)).resolve(),
        }
    )


def seed_stack_note(settings: BenchSettings, node: str | None) -> str | None:
    """Why the original Node stack cannot run, or None when it can."""
    if settings.seed_stack_dir is None:
        return "SEED_STACK_DIR is not set: P1 has no Node baseline (ratios not measured)"
    if node is None:
        return "node is not installed: P1 has no Node baseline (Debian: apt-get install nodejs npm)"
    return None
