"""Run the ratelimit service: `python -m nocturnal.ratelimit`."""

from __future__ import annotations

from nocturnal.ratelimit import SERVICE
from nocturnal.ratelimit.app import create_app
from nocturnal.ratelimit.settings import RatelimitSettings
from nocturnal.shared.config import load_settings
from nocturnal.shared.http.app import run_service
from nocturnal.shared.logging import configure_logging


def main() -> None:
    """Console script `nocturnal-ratelimit`."""
    settings = load_settings(RatelimitSettings)
    configure_logging(
        service=SERVICE,
        instance=settings.instance_name,
        level=settings.log_level,
        fmt=settings.resolved_log_format,
    )
    run_service(create_app(settings), settings)


if __name__ == "__main__":
    main()
