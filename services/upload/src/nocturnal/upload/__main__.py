"""Run the upload service: `python -m nocturnal.upload`."""

from __future__ import annotations

from nocturnal.shared.config import load_settings
from nocturnal.shared.http.app import run_service
from nocturnal.shared.logging import configure_logging
from nocturnal.upload.app import SERVICE, create_app
from nocturnal.upload.settings import UploadSettings


def main() -> None:
    """Console script entry point."""
    settings = load_settings(UploadSettings)
    configure_logging(
        service=SERVICE,
        instance=settings.instance_name,
        level=settings.log_level,
        fmt=settings.resolved_log_format,
    )
    run_service(create_app(settings), settings)


if __name__ == "__main__":
    main()
