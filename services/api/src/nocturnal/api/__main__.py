"""Run the api service: `python -m nocturnal.api`."""

from __future__ import annotations

from nocturnal.api import SERVICE
from nocturnal.api.app import create_app
from nocturnal.api.settings import ApiSettings
from nocturnal.shared.http.app import serve


def main() -> None:
    """Console script `nocturnal-api`: read settings, configure logging, serve."""
    serve(SERVICE, ApiSettings, create_app)


if __name__ == "__main__":
    main()
