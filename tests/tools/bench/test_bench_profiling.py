"""Summaries of py-spy's collapsed stacks, and py-spy recording a real process."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.bench.profiling import library, py_spy_binary, recording, render, summarise

SITE = "/repo/.venv/lib/python3.11/site-packages"
STDLIB = "/root/.local/share/uv/python/cpython-3.11.7-linux-x86_64-gnu/lib/python3.11"


def test_self_inclusive_library_and_own_code_shares(tmp_path: Path) -> None:
    stacks = tmp_path / "api.txt"
    stacks.write_text(
        f"run ({STDLIB}/asyncio/base_events.py:10);handle (/w/services/api/src/nocturnal/api/app.py:5);"
        f"dumps ({SITE}/pydantic/main.py:7) 30\n"
        f"run ({STDLIB}/asyncio/base_events.py:10);handle (/w/services/api/src/nocturnal/api/app.py:6) 10\n"
        f"run ({STDLIB}/asyncio/base_events.py:10);_read ({SITE}/aiohttp/web_protocol.py:9) 60\n"
    )

    summary = summarise(stacks)

    assert summary["samples"] == 100
    assert summary["self"][0] == ("_read (aiohttp/web_protocol.py)", 60.0)
    inclusive = dict(summary["inclusive"])
    assert inclusive["run (asyncio/base_events.py)"] == 100.0
    # One function on a stack counts once, whatever line of it the frames name.
    assert inclusive["handle (nocturnal/api/app.py)"] == 40.0
    assert summary["ours"] == [("handle (nocturnal/api/app.py)", 40.0)]
    assert dict(summary["libraries"]) == {
        "aiohttp": 60.0,
        "pydantic": 30.0,
        "nocturnal (our code)": 10.0,
    }
    text = render("P1 api", summary)
    assert "60.0%  _read" in text
    assert "40.0%  handle (nocturnal/api/app.py)" in text.split("inclusive (on the stack):")[1]


@pytest.mark.parametrize(
    ("file", "name"),
    [
        ("nocturnal/shared/redis/client.py", "nocturnal (our code)"),
        ("nocturnal/shared/json_text.py", "nocturnal (our code)"),
        ("secantus/server/commands.py", "SecantusDB"),
        ("wiredtiger/swig_wiredtiger.py", "SecantusDB"),
        ("bson/__init__.py", "pymongo"),
        ("argon2/_password_hasher.py", "argon2"),
        ("aiormq/connection.py", "aio-pika + aiormq"),
        ("aiobotocore/client.py", "botocore"),
        ("moto/s3/responses.py", "moto"),
        ("somewhere/else.py", "other"),
    ],
)
def test_library_of_a_file(file: str, name: str) -> None:
    assert library(file) == name


@pytest.mark.skipif(py_spy_binary() is None, reason="py-spy is not installed")
def test_recording_a_running_process_finds_our_code(tmp_path: Path) -> None:
    source = tmp_path / "src" / "nocturnal" / "spin.py"
    source.parent.mkdir(parents=True)
    source.write_text("def spin():\n    while True:\n        sum(range(1000))\n\n\nspin()\n")
    process = subprocess.Popen([sys.executable, str(source)])
    try:
        with recording({"spin": process.pid}, tmp_path / "out", "T1") as summaries:
            time.sleep(1.5)
    finally:
        process.kill()
        process.wait()

    summary = summaries["spin"]
    assert Path(summary["file"]) == tmp_path / "out" / "T1-spin.txt"
    assert summary["samples"] > 0
    assert dict(summary["libraries"])["nocturnal (our code)"] > 90.0
    assert dict(summary["ours"])["spin (nocturnal/spin.py)"] > 90.0


@pytest.mark.skipif(py_spy_binary() is None, reason="py-spy is not installed")
def test_recording_a_process_that_is_gone_reports_the_error(tmp_path: Path) -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    with recording({"gone": process.pid}, tmp_path, "T2") as summaries:
        time.sleep(0.2)
    assert "error" in summaries["gone"]
