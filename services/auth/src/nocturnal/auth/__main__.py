"""Run the auth service: `python -m nocturnal.auth` (settings from the environment)."""

from __future__ import annotations

from nocturnal.auth import SERVICE
from nocturnal.auth.app import create_app
from nocturnal.auth.settings import AuthSettings
from nocturnal.shared.http.app import serve


def main() -> None:
    """Console script `nocturnal-auth`: read settings, configure logging, serve."""
    serve(SERVICE, AuthSettings, create_app)


if __name__ == "__main__":
    main()
