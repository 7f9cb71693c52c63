"""Run the api service: `python -m nocturnal.api`."""

from __future__ import annotations

from nocturnal.api.app import SERVICE_NAME, create_app
from nocturnal.api.settings import ApiSettings
from nocturnal.shared.config import load_settings
from nocturnal.shared.http.app import run_service
from nocturnal.shared.logging import configure_logging


def main() -> None:
    """Console script `nocturnal-api`: read settings, configure logging, serve."""
    settings = load_settings(ApiSettings)
    configure_logging(
        service=SERVICE_NAME,
        instance=settings.instance_name,
        level=settings.log_level,
        fmt=settings.resolved_log_format,
    )
    run_service(create_app(settings), settings)


if __name__ == "__main__":
    main()
