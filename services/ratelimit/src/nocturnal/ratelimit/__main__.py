"""Run the ratelimit service: `python -m nocturnal.ratelimit`."""

from __future__ import annotations

from nocturnal.ratelimit import SERVICE
from nocturnal.ratelimit.app import create_app
from nocturnal.ratelimit.settings import RatelimitSettings
from nocturnal.shared.http.app import serve


def main() -> None:
    """Console script `nocturnal-ratelimit`: read settings, configure logging, serve."""
    serve(SERVICE, RatelimitSettings, create_app)


if __name__ == "__main__":
    main()
