"""Where the time goes: py-spy samples of a service process under load, summarised.

`py-spy record --format raw` writes collapsed stacks ("frame;frame;... count"), which speedscope
and flamegraph tools open as they are. The summary counts each function's own samples (self)
and the samples of stacks it is on (inclusive), and groups self time by library.
Only samples of a running thread are taken (no --idle): shares are of CPU time, not of waiting.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

ENTRY_POINT_SHARE = 99.0  # frames on (nearly) every stack: __main__, run_app, ...
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::\d+)?\)$")
# Library of a frame, by the first path fragment that matches (order matters).
LIBRARIES = (
    ("nocturnal/", "nocturnal (our code)"),
    ("aiohttp/", "aiohttp"),
    ("pydantic", "pydantic"),
    ("pymongo/", "pymongo"),
    ("bson/", "pymongo"),
    ("redis/", "redis-py"),
    ("structlog/", "structlog + logging"),
    ("logging/", "structlog + logging"),
    ("prometheus_client/", "prometheus_client"),
    ("jwt/", "JWT + crypto"),
    ("joserfc/", "JWT + crypto"),
    ("authlib/", "JWT + crypto"),
    ("cryptography/", "JWT + crypto"),
    ("json/", "json"),
    ("orjson", "json"),
    ("multidict/", "aiohttp"),
    ("yarl/", "aiohttp"),
    ("uvloop", "asyncio/uvloop"),
    ("asyncio/", "asyncio/uvloop"),
)


def py_spy_binary() -> str | None:
    """py-spy installed beside this interpreter (the workspace venv), or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


def start_recording(
    pid: int, seconds: float, output: Path, rate: int = 200
) -> subprocess.Popen[bytes]:
    """Start `py-spy record` on `pid` for `seconds`, writing collapsed stacks to `output`.

    Raises:
        RuntimeError: py-spy is not installed.
    """
    binary = py_spy_binary()
    if binary is None:
        raise RuntimeError("py-spy is not installed (uv sync installs it with the dev group)")
    output.parent.mkdir(parents=True, exist_ok=True)
    argv = [
        binary,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(seconds))),
        "--rate",
        str(rate),
        "--format",
        "raw",
        "--output",
        str(output),
    ]
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _short(file: str) -> str:
    for marker in ("site-packages/", "/lib/python3.11/", "/src/"):
        if marker in file:
            return file.split(marker, 1)[1]
    return file


def _frames(stack: str) -> list[tuple[str, str]]:
    frames = []
    for raw in stack.split(";"):
        match = FRAME.match(raw.strip())
        if match:
            frames.append((match["func"], _short(match["file"])))
        elif raw.strip():
            frames.append((raw.strip(), ""))
    return frames


def library(file: str) -> str:
    """The library a source file belongs to (see LIBRARIES), else "other"."""
    for fragment, name in LIBRARIES:
        if fragment in file:
            return name
    return "other"


def summarise(path: Path, top: int = 15) -> dict[str, Any]:
    """Self and inclusive shares (% of samples) of the top functions, and self by library."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    libraries: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = _frames(stack)
        if not frames:
            continue
        total += count
        func, file = frames[-1]
        own[f"{func} ({file})"] += count
        libraries[library(file)] += count
        for name in {f"{f} ({p})" for f, p in frames}:
            inclusive[name] += count

    def share(counter: Counter[str], limit: int) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(limit)]

    if total == 0:
        return {"samples": 0, "self": [], "inclusive": [], "libraries": []}
    return {
        "samples": total,
        "self": share(own, top),
        "inclusive": share(inclusive, top + 45),
        "libraries": share(libraries, len(LIBRARIES)),
    }


def render(title: str, summary: dict[str, Any], lines: int = 12) -> str:
    """A summary as text: libraries by self time, then the top functions."""
    out = [f"{title} — {summary['samples']} samples (CPU time only)"]
    out.append("  self time by library: " + ", ".join(f"{n} {p}%" for n, p in summary["libraries"]))
    out.append("  top functions by self time:")
    out += [f"    {p:5.1f}%  {name}" for name, p in summary["self"][:lines]]
    out.append("  top functions by inclusive time (on the stack; entry points left out):")
    inner = [(name, p) for name, p in summary["inclusive"] if p < ENTRY_POINT_SHARE]
    out += [f"    {p:5.1f}%  {name}" for name, p in inner[: lines + 18]]
    return "\n".join(out)
