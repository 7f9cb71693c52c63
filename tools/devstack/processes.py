"""Child processes of the runner: spawn in a process group with one log, wait, stop them all."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from tools.devstack.errors import StackError

# The repository root: every child runs there.
ROOT = Path(__file__).resolve().parents[2]
# Longer than a service's SHUTDOWN_DRAIN_S + SHUTDOWN_TIMEOUT_S defaults (5 + 20 s).
STOP_GRACE_S = 30.0


def _die_with_parent() -> None:
    # Linux PR_SET_PDEATHSIG: if the runner is killed outright, its children do not linger.
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)


@dataclass
class Child:
    """A process this runner started, in its own process group, logging to one file."""

    name: str
    proc: subprocess.Popen[bytes]
    log_path: Path

    @classmethod
    def spawn(
        cls, name: str, argv: Sequence[str], log_path: Path, env: Mapping[str, str] | None = None
    ) -> Child:
        """Start `argv` with stdout and stderr to `log_path` (truncated)."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=ROOT,
                start_new_session=True,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            )
        return cls(name, proc, log_path)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def tail(self, lines: int = 25) -> str:
        """The last `lines` lines of the log, indented, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "    (no log)"
        return "\n".join(f"    {line}" for line in text.splitlines()[-lines:]) or "    (empty log)"

    def signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signum)


def stop_children(
    children: Iterable[Child], grace: float = STOP_GRACE_S, signum: int = signal.SIGTERM
) -> None:
    """Signal each child's process group (SIGTERM unless `signum` says otherwise), wait up to
    `grace` seconds, then SIGKILL the rest."""
    running = [child for child in children if child.alive]
    for child in running:
        child.signal_group(signum)
    deadline = time.monotonic() + grace
    while running and time.monotonic() < deadline:
        running = [child for child in running if child.alive]
        time.sleep(0.1)
    for child in running:
        name = signal.Signals(signum).name
        print(f"devstack: {child.name} ignored {name} for {grace:g} s; killing it", flush=True)
        child.signal_group(signal.SIGKILL)
        child.proc.wait()


def wait_until(
    answers: Callable[[], bool], what: str, timeout: float, child: Child | None = None
) -> None:
    """Poll `answers` until it is true; fail fast if `child` exits, or after `timeout` seconds.

    Raises:
        StackError: naming `what`, with the tail of the child's log when there is one.
    """
    deadline = time.monotonic() + timeout
    while not answers():
        if child is not None and not child.alive:
            raise StackError(
                f"{what} exited with code {child.proc.returncode} before it was ready; "
                f"last lines of {child.log_path}:\n{child.tail()}"
            )
        if time.monotonic() > deadline:
            log = f"; last lines of {child.log_path}:\n{child.tail()}" if child else ""
            raise StackError(f"{what} was not ready after {timeout:.0f} s{log}")
        time.sleep(0.2)
