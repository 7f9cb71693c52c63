"""Run the auth service: `python -m nocturnal.auth` (settings from the environment)."""

from __future__ import annotations

from nocturnal.auth import SERVICE
from nocturnal.auth.app import create_app
from nocturnal.auth.settings import AuthSettings
from nocturnal.shared.config import load_settings
from nocturnal.shared.http.app import run_service
from nocturnal.shared.logging import configure_logging


def main() -> None:
    """Console script `nocturnal-auth`."""
    settings = load_settings(AuthSettings)
    configure_logging(
        service=SERVICE,
        instance=settings.instance_name,
        level=settings.log_level,
        fmt=settings.resolved_log_format,
    )
    run_service(create_app(settings), settings)


if __name__ == "__main__":
    main()
