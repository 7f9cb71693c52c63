"""The upload service's route table."""

from __future__ import annotations

from aiohttp import web

from nocturnal.upload.handlers import downloads, internal, uploads


def setup_routes(app: web.Application) -> None:
    """Register every route of the upload service by name."""
    router = app.router
    router.add_post("/api/uploads", uploads.create_upload, name="create-upload")
    router.add_get("/api/uploads", uploads.list_uploads, name="list-uploads")
    router.add_get("/api/uploads/{file_id}", uploads.get_upload, name="get-upload")
    router.add_get("/api/uploads/{file_id}/url", uploads.get_upload_url, name="get-upload-url")
    router.add_delete("/api/uploads/{file_id}", uploads.delete_upload, name="delete-upload")
    router.add_get("/api/files/{key:.+}", downloads.download_file, name="download-file")
    router.add_post(
        "/v1/files/{file_id}/signed-url", internal.create_signed_url, name="create-signed-url"
    )
