"""Run the upload service: `python -m nocturnal.upload`."""

from __future__ import annotations

from nocturnal.shared.http.app import serve
from nocturnal.upload import SERVICE
from nocturnal.upload.app import create_app
from nocturnal.upload.settings import UploadSettings


def main() -> None:
    """Console script `nocturnal-upload`: read settings, configure logging, serve."""
    serve(SERVICE, UploadSettings, create_app)


if __name__ == "__main__":
    main()
