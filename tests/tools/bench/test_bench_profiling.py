"""Summaries of py-spy's collapsed stacks."""

from __future__ import annotations

from pathlib import Path

from tools.bench.profiling import library, render, summarise

SITE = "/repo/.venv/lib/python3.11/site-packages"


def test_self_inclusive_and_library_shares(tmp_path: Path) -> None:
    stacks = tmp_path / "api.collapsed.txt"
    stacks.write_text(
        f"run (asyncio/base_events.py:10);handle (nocturnal/api/app.py:5);"
        f"dumps ({SITE}/pydantic/main.py:7) 30\n"
        f"run (asyncio/base_events.py:10);handle (nocturnal/api/app.py:6) 10\n"
        f"run (asyncio/base_events.py:10);_read ({SITE}/aiohttp/web_protocol.py:9) 60\n"
    )

    summary = summarise(stacks)

    assert summary["samples"] == 100
    assert summary["self"][0] == ("_read (aiohttp/web_protocol.py)", 60.0)
    inclusive = dict(summary["inclusive"])
    assert inclusive["run (asyncio/base_events.py)"] == 100.0
    # One function on a stack counts once, whatever line of it the frames name.
    assert inclusive["handle (nocturnal/api/app.py)"] == 40.0
    assert dict(summary["libraries"]) == {
        "aiohttp": 60.0,
        "pydantic": 30.0,
        "nocturnal (our code)": 10.0,
    }
    assert "60.0%  _read" in render("P1 api", summary)


def test_library_of_an_unknown_file_is_other() -> None:
    assert library("somewhere/else.py") == "other"
