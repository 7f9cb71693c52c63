"""tools.devstack.processes: children named with their exit code and log, stopped group-wide."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from tools.devstack import Child, StackError, stop_children, wait_until


def test_a_child_that_dies_is_named_with_its_exit_code_and_log(tmp_path: Path) -> None:
    code = "print('cannot bind the port', flush=True); raise SystemExit(3)"
    child = Child.spawn("api-7", [sys.executable, "-c", code], tmp_path / "api-7.log")

    with pytest.raises(StackError) as error:
        wait_until(lambda: False, "api-7", timeout=30, child=child)

    assert "api-7 exited with code 3" in str(error.value)
    assert "cannot bind the port" in str(error.value)


def test_a_child_that_never_gets_ready_times_out_with_its_log(tmp_path: Path) -> None:
    code = "import time; print('still migrating', flush=True); time.sleep(60)"
    child = Child.spawn("auth-1", [sys.executable, "-c", code], tmp_path / "auth-1.log")
    try:
        with pytest.raises(
            StackError, match=r"auth-1 was not ready after 1 s(.|\n)*still migrating"
        ):
            wait_until(lambda: False, "auth-1", timeout=1, child=child)
    finally:
        stop_children([child])


def test_waiting_without_a_child_names_what_was_not_ready() -> None:
    with pytest.raises(StackError, match=r"^redis at x was not ready after 0 s$"):
        wait_until(lambda: False, "redis at x", timeout=0)


def test_waiting_returns_as_soon_as_it_answers() -> None:
    answers = iter([False, False, True])

    wait_until(lambda: next(answers), "the third probe", timeout=30)

    assert next(answers, "drained") == "drained"


def test_stop_kills_the_whole_group_even_when_it_ignores_sigterm(tmp_path: Path) -> None:
    script = "trap '' TERM; sleep 60 & sleep 60 & wait"
    child = Child.spawn("stubborn", ["sh", "-c", script], tmp_path / "stubborn.log")
    time.sleep(0.3)

    stop_children([child], grace=0.5)

    assert not child.alive
    wait_until(lambda: not group_exists(child.proc.pid), "the sleeps", timeout=5)


def group_exists(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def test_stop_lets_a_child_finish_on_sigterm(tmp_path: Path) -> None:
    code = "import signal, time; time.sleep(60)"
    child = Child.spawn("api-1", [sys.executable, "-c", code], tmp_path / "api-1.log")
    time.sleep(0.3)

    stop_children([child], grace=10)

    assert child.proc.returncode == -signal.SIGTERM


def test_a_child_logs_to_its_file_and_its_tail_is_indented(tmp_path: Path) -> None:
    code = "print('\\n'.join(f'line {n}' for n in range(30)))"
    child = Child.spawn("upload-1", [sys.executable, "-c", code], tmp_path / "upload-1.log")
    child.proc.wait(timeout=30)

    assert child.tail(2) == "    line 28\n    line 29"
    assert Child("gone", child.proc, tmp_path / "missing.log").tail() == "    (no log)"
