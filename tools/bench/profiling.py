"""Where the time goes: py-spy samples of service processes under load, summarised.

`py-spy record --format raw` writes collapsed stacks ("frame;frame;... count"), which speedscope
and flamegraph tools open as they are. The summary counts each function's own samples (self)
and the samples of stacks it is on (inclusive), groups self time by library, and lists the
inclusive shares of our own functions (`nocturnal/`).
Only samples of a running thread are taken (no --idle): shares are of CPU time, not of waiting.
py-spy samples with `--nonblocking`: it reads the process's memory without stopping it, so the
profiled process runs at its own pace (an occasional torn stack is the price), and with
`--full-filenames`: its default shortens a path to the import root ("api/app.py"), which hides
whether a frame is ours (`nocturnal/`) or a library's.
Servers with a thread per connection (SecantusDB, moto) are sampled with `--gil`: py-spy counts
their threads blocked in `recv()` as running (three times their CPU time, measured against
psutil), so only the thread holding the GIL is taken there; C code that releases the GIL is
then missed, which they have little of. Our services keep every thread: their event loop idles
outside any sample, and argon2 (auth) and SHA-256 (upload) work in C with the GIL released.
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

# Our frames under which a whole service runs (its __main__, the shared serve loop): on every
# stack of the event loop's thread, so they say nothing; left out of the text summary.
ENTRY_POINTS = ("run_service (", "serve (")
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>.*?)(?::\d+)?\)$")
OURS = "nocturnal (our code)"
THREAD_PER_CONNECTION = frozenset({"mongo", "s3"})  # sampled with --gil (see above)
# Library of a frame, by the first path fragment that matches (order matters). Paths are as
# `_short` leaves them: relative to site-packages, the standard library or a `src/` folder.
LIBRARIES = (
    ("nocturnal/", OURS),
    ("secantus/", "SecantusDB"),
    ("wiredtiger/", "SecantusDB"),  # its storage engine's bindings
    ("aiohttp/", "aiohttp"),
    ("pydantic", "pydantic"),
    ("pymongo/", "pymongo"),
    ("bson/", "pymongo"),
    ("argon2/", "argon2"),
    ("aio_pika/", "aio-pika + aiormq"),
    ("aiormq/", "aio-pika + aiormq"),
    ("pamqp/", "aio-pika + aiormq"),
    ("aiobotocore/", "botocore"),
    ("botocore/", "botocore"),
    ("boto3/", "botocore"),
    ("moto/", "moto"),
    ("werkzeug/", "werkzeug + flask"),
    ("flask/", "werkzeug + flask"),
    ("opentelemetry/", "opentelemetry"),
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
    pid: int, output: Path, rate: int = 200, *, gil_only: bool = False
) -> subprocess.Popen[bytes]:
    """Start `py-spy record --nonblocking` on `pid` (only the GIL's holder when `gil_only`),
    writing collapsed stacks to `output` when it is interrupted (SIGINT), as `recording` does.

    Raises:
        RuntimeError: py-spy is not installed.
    """
    binary = py_spy_binary()
    if binary is None:
        raise RuntimeError("py-spy is not installed (uv sync installs it with the dev group)")
    output.parent.mkdir(parents=True, exist_ok=True)
    argv = [binary, "record", "--pid", str(pid), "--rate", str(rate), "--nonblocking"]
    argv += ["--full-filenames", "--format", "raw", "--output", str(output)]
    if gil_only:
        argv.append("--gil")
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@contextmanager
def recording(
    targets: Mapping[str, int], folder: Path, label: str, rate: int = 200
) -> Iterator[dict[str, dict[str, Any]]]:
    """py-spy on every process of `targets` (name -> pid) while the block runs; those named in
    THREAD_PER_CONNECTION only while they hold the GIL.

    Writes `folder/<label>-<name>.txt` (collapsed stacks) and, after the block, fills the
    yielded dict with each process's `summarise` (plus "file"), or {"error": ...} when py-spy
    failed on it.

    Raises:
        RuntimeError: py-spy is not installed.
    """
    paths = {name: folder / f"{label}-{name}.txt" for name in targets}
    recorders = {
        name: start_recording(pid, paths[name], rate, gil_only=name in THREAD_PER_CONNECTION)
        for name, pid in targets.items()
    }
    summaries: dict[str, dict[str, Any]] = {}
    try:
        yield summaries
    finally:
        for name, recorder in recorders.items():
            recorder.send_signal(signal.SIGINT)  # py-spy writes what it sampled, then exits
            try:
                _, error = recorder.communicate(timeout=60)
            except subprocess.TimeoutExpired:
                recorder.kill()
                _, error = recorder.communicate()
            if paths[name].exists() and paths[name].stat().st_size > 0:
                summaries[name] = summarise(paths[name]) | {"file": str(paths[name])}
            else:
                summaries[name] = {"error": error.decode(errors="replace")[-500:]}


# Tried in order: a library's path inside the standard library's folder is site-packages'.
SHORT = tuple(re.compile(p) for p in (r"^.*site-packages/", r"^.*/lib/python3\.\d+/", r"^.*?/src/"))


def _short(file: str) -> str:
    """A source path relative to site-packages, the standard library or a `src/` folder."""
    for prefix in SHORT:
        shorter, found = prefix.subn("", file, count=1)
        if found:
            return shorter
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
    ours: Counter[str] = Counter()
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
        for name, file in {(f"{f} ({p})", p) for f, p in frames}:
            inclusive[name] += count
            if library(file) == OURS:
                ours[name] += count

    def share(counter: Counter[str], limit: int) -> list[tuple[str, float]]:
        return [(name, round(100 * n / total, 1)) for name, n in counter.most_common(limit)]

    if total == 0:
        return {"samples": 0, "self": [], "inclusive": [], "ours": [], "libraries": []}
    return {
        "samples": total,
        "self": share(own, top),
        "inclusive": share(inclusive, top + 45),
        "ours": share(ours, top),
        "libraries": share(libraries, len(LIBRARIES)),
    }


def _entry_point(name: str) -> bool:
    return name.endswith("__main__.py)") or name.startswith(ENTRY_POINTS)


def render(title: str, summary: dict[str, Any], lines: int = 8) -> str:
    """A summary as text: self time by library, the top `lines` functions by self time, and the
    inclusive shares of our own functions (entry points left out)."""
    if "error" in summary:
        return f"{title} — py-spy failed: {summary['error']}"
    out = [f"{title} — {summary['samples']} samples (CPU time only)"]
    out.append("  self time by library: " + ", ".join(f"{n} {p}%" for n, p in summary["libraries"]))
    out.append("  top functions by self time:")
    out += [f"    {p:5.1f}%  {name}" for name, p in summary["self"][:lines]]
    out.append("  our code, inclusive (on the stack):")
    inner = [(name, p) for name, p in summary["ours"] if not _entry_point(name)]
    out += [f"    {p:5.1f}%  {name}" for name, p in inner[: lines + 4]]
    return "\n".join(out)
