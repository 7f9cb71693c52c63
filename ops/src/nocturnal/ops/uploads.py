"""``uploads`` commands: reconcile the upload service's storage with its metadata on demand.

The upload service runs the same reconciliation periodically (`RECONCILE_INTERVAL_S`); this is
for an operator who wants it now, or wants to see first what it would do. It reads the upload
service's own settings from the environment (`STORAGE_BACKEND`, `S3_*`, `MONGO_URL`, ...).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from typing import Any, TextIO

from botocore.exceptions import BotoCoreError, ClientError
from pymongo.errors import PyMongoError

from nocturnal.shared.config import load_settings
from nocturnal.upload.app import open_reconciler
from nocturnal.upload.service_layer import Reconciliation
from nocturnal.upload.settings import UploadSettings

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(groups: Any) -> None:
    """Add the ``uploads`` group and its commands to the root parser's sub-parsers."""
    parser = groups.add_parser("uploads", help="upload storage", description=__doc__)
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")
    reconcile = commands.add_parser(
        "reconcile",
        help="abort stale incomplete uploads, delete objects without metadata, report"
        " metadata without object",
    )
    reconcile.add_argument(
        "--older-than",
        type=duration,
        help="abort incomplete uploads begun longer ago than this, e.g. 6h"
        " (default: $RECONCILE_UPLOAD_AGE_S, 24h)",
    )
    reconcile.add_argument(
        "--grace",
        type=duration,
        help="leave objects and metadata younger than this alone, e.g. 30m"
        " (default: $RECONCILE_GRACE_S, 1h)",
    )
    reconcile.add_argument(
        "--dry-run", action="store_true", help="only list what would be done; change nothing"
    )
    reconcile.add_argument("--yes", action="store_true", help="act without asking first")
    reconcile.set_defaults(standalone=reconcile_storage)


def duration(text: str) -> float:
    """A duration in seconds from `90`, `90s`, `15m`, `6h` or `2d` (argparse type)."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([smhd]?)", text.strip())
    if match is None or float(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a positive duration: {text!r} (e.g. 90s, 15m, 6h)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


async def reconcile_storage(
    args: argparse.Namespace, out: TextIO, confirm: Callable[[str], bool]
) -> int:
    """Show what a reconciliation would do; then, after confirmation (or with `--yes`), do
    it. Exit code 1 when the operator declined or the storage or the database failed (one
    line on standard error says which)."""
    overrides: dict[str, float] = {}
    if args.older_than is not None:
        overrides["reconcile_upload_age_s"] = args.older_than
    if args.grace is not None:
        overrides["reconcile_grace_s"] = args.grace
    settings = load_settings(UploadSettings).model_copy(update=overrides)
    try:
        return await _reconcile(settings, args, out, confirm)
    except (PyMongoError, BotoCoreError, ClientError, OSError) as exc:
        print(f"reconciliation stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1


async def _reconcile(
    settings: UploadSettings,
    args: argparse.Namespace,
    out: TextIO,
    confirm: Callable[[str], bool],
) -> int:
    async with open_reconciler(settings) as reconciler:
        plan = await reconciler.run(dry_run=True)
        _print(plan, out)
        if args.dry_run or not (plan.aborted_uploads or plan.deleted_objects):
            return 0
        question = (
            f"abort {len(plan.aborted_uploads)} incomplete uploads and delete"
            f" {len(plan.deleted_objects)} objects?"
        )
        if not (args.yes or confirm(question)):
            print("nothing changed", file=out)
            return 1
        _print(await reconciler.run(), out)
    return 0


def _print(report: Reconciliation, out: TextIO) -> None:
    verb = "would" if report.dry_run else "did"
    for key in report.aborted_uploads:
        print(f"abort incomplete upload\t{key}", file=out)
    for key in report.deleted_objects:
        print(f"delete object without metadata\t{key}", file=out)
    for key in report.missing_objects:
        print(f"metadata without object (left for you)\t{key}", file=out)
    print(
        f"{verb}: abort {len(report.aborted_uploads)} incomplete uploads, delete"
        f" {len(report.deleted_objects)} objects; {len(report.missing_objects)} files miss"
        " their object",
        file=out,
    )
