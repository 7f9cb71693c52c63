"""Upload service settings (environment variable = upper-case field name)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr

from nocturnal.shared.config import MongoSettings, PeerSettings, ServiceSettings


class UploadSettings(ServiceSettings, MongoSettings, PeerSettings):
    """Settings of the upload service.

    `STORAGE_BACKEND=local` keeps objects under `STORAGE_LOCAL_DIR` and serves signed downloads
    itself at `{PUBLIC_BASE_URL}/api/files/...`; `s3` uses `S3_BUCKET` at `S3_ENDPOINT_URL`
    (AWS when unset) with credentials from the standard AWS variables, and hands out presigned
    URLs for `S3_PUBLIC_ENDPOINT_URL` (default: the same endpoint).
    """

    mongo_database: str = "nocturnal_upload"
    public_base_url: str = "http://localhost:8080"
    storage_backend: Literal["local", "s3"] = "local"
    storage_local_dir: Path = Path("var/uploads")
    s3_endpoint_url: str | None = None
    s3_public_endpoint_url: str | None = None
    s3_bucket: str = Field(default="nocturnal-uploads", min_length=3, max_length=63)
    s3_region: str = "us-east-1"
    s3_create_bucket: bool = False
    upload_idle_timeout_s: float = Field(default=30.0, gt=0, le=600)
    reconcile_interval_s: float = Field(default=3600.0, ge=0)
    """How often each instance reconciles storage and metadata (0: never; `make reconcile`)."""
    reconcile_upload_age_s: float = Field(default=86400.0, gt=0)
    """Incomplete uploads begun longer ago than this are aborted."""
    reconcile_grace_s: float = Field(default=3600.0, gt=0)
    """Objects without metadata, and metadata without object, younger than this are left be."""
    url_signing_secret: SecretStr = Field(
        default=SecretStr("dev-insecure-upload-url-signing-secret-change-me"), min_length=32
    )
