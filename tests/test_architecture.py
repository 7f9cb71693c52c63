"""The layering at run time: importing a domain loads no I/O library.

import-linter (`make lint`) checks the import statements; this checks what Python actually
loads, package `__init__` modules included (a re-export there would drag aiohttp in).
"""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import nocturnal

IO_LIBRARIES = {
    "aiohttp",
    "aio_pika",
    "aiormq",
    "pymongo",
    "bson",
    "redis",
    "aioboto3",
    "aiobotocore",
    "botocore",
    "structlog",
    "prometheus_client",
    "uvloop",
}
SERVICES = ("auth", "api", "upload", "ratelimit")


def domain_modules() -> list[str]:
    names = []
    for service in SERVICES:
        package = __import__(f"nocturnal.{service}.domain", fromlist=["_"])
        names += [m.name for m in pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    return names


def test_importing_every_domain_module_loads_no_io_library() -> None:
    modules = domain_modules()
    assert len(modules) >= 15, modules  # every service's domain was found
    probe = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    assert IO_LIBRARIES.isdisjoint(loaded), IO_LIBRARIES.intersection(loaded)
    assert nocturnal.__name__ in loaded


def test_tools_import_nothing_from_the_test_suite() -> None:
    # make bench and make run ship without tests/: what both need lives in tools/ (or shared).
    import ast
    from pathlib import Path

    tools = Path(__file__).resolve().parent.parent / "tools"
    offenders = []
    for path in tools.rglob("*.py"):
        if "node_modules" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = (
                [alias.name for alias in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and node.level == 0
                else []
            )
            offenders += [f"{path}: {name}" for name in names if name.split(".")[0] == "tests"]
    assert offenders == []
