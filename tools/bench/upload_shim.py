"""The upload service with the document size limit raised to BENCH_DOCUMENT_MAX_BYTES, for P5.

P5 streams 50 MiB and 200 MiB documents, but the limit (20 MiB) is a constant of the upload
domain with no setting to raise it, the way RATELIMIT_POLICIES raises rate limits. Until that
setting exists the bench replaces the one property before the service starts; everything else
(the streaming path, storage, checks, logs) is the service exactly as deployed.
Run as ``python -m tools.bench.upload_shim`` with the upload service's environment.
"""

from __future__ import annotations

import os
import runpy

from nocturnal.upload.domain import files


def main() -> None:
    """Raise the document limit, then run `python -m nocturnal.upload`."""
    limit = int(os.environ["BENCH_DOCUMENT_MAX_BYTES"])
    original = files.FileKind.max_bytes

    def max_bytes(kind: files.FileKind) -> int:
        return limit if kind is files.FileKind.DOCUMENT else int(original.fget(kind))  # type: ignore[misc]

    files.FileKind.max_bytes = property(max_bytes)  # type: ignore[assignment,method-assign]
    runpy.run_module("nocturnal.upload", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
