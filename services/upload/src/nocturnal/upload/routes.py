"""The upload service's routes: what each takes and answers."""

from __future__ import annotations

from aiohttp import web

from nocturnal.shared.http.pagination import PageBody, PageQuery
from nocturnal.shared.http.routes import (
    SIGNED_IN,
    Header,
    Json,
    Reply,
    Route,
    RouteTable,
    Upload,
    add_routes,
    follow,
)
from nocturnal.upload import SERVICE
from nocturnal.upload.domain.files import (
    EmptyFile,
    FileNotFound,
    FileTooLarge,
    MediaType,
    OwnerErased,
    StoredFileView,
    UnsupportedMediaType,
)
from nocturnal.upload.domain.signing import BadSignature
from nocturnal.upload.handlers import downloads, internal, uploads
from nocturnal.upload.handlers.errors import PROBLEMS
from nocturnal.upload.handlers.uploads import UPLOAD_POLICY, SignedUrlView, UploadQuery, UrlQuery

MEDIA_TYPES = tuple(media_type.value for media_type in MediaType)
DOWNLOAD_HEADERS = {
    "Content-Disposition": Header("`attachment` with an ASCII `filename` and a UTF-8 `filename*`."),
    "X-Content-Type-Options": Header("`nosniff`."),
    "Cache-Control": Header("`private, no-store`."),
}

ROUTES = RouteTable(
    SERVICE,
    (
        Route(
            "POST",
            "/api/uploads",
            uploads.create_upload,
            "create-upload",
            Reply(
                201,
                "The file, stored.",
                StoredFileView,
                links=follow("file_id", "/id", "get-upload", "get-upload-url", "delete-upload"),
            ),
            body=Upload(MEDIA_TYPES),
            query=UploadQuery,
            bearer=SIGNED_IN,
            rate_limit=UPLOAD_POLICY,
            errors=(FileTooLarge, UnsupportedMediaType, EmptyFile, OwnerErased),
            problems={503: "every upload slot of the instance is busy (UPLOAD_MAX_CONCURRENT)"},
        ),
        Route(
            "GET",
            "/api/uploads",
            uploads.list_uploads,
            "list-uploads",
            Reply(200, "A page of the caller's files, newest first.", PageBody[StoredFileView]),
            query=PageQuery,
            bearer=SIGNED_IN,
        ),
        Route(
            "GET",
            "/api/uploads/{file_id}",
            uploads.get_upload,
            "get-upload",
            Reply(200, "The file's metadata.", StoredFileView),
            bearer=SIGNED_IN,
            errors=(FileNotFound,),
        ),
        Route(
            "GET",
            "/api/uploads/{file_id}/url",
            uploads.get_upload_url,
            "get-upload-url",
            Reply(200, "A signed download URL.", SignedUrlView),
            query=UrlQuery,
            bearer=SIGNED_IN,
            errors=(FileNotFound,),
        ),
        Route(
            "DELETE",
            "/api/uploads/{file_id}",
            uploads.delete_upload,
            "delete-upload",
            Reply(204, "The file and its metadata are gone."),
            bearer=SIGNED_IN,
            errors=(FileNotFound,),
        ),
        Route(
            "GET",
            "/api/files/{key:.+}",
            downloads.download_file,
            "download-file",
            Reply(
                200,
                "The file's bytes (local storage backend; S3 serves its own signed URLs).",
                {"type": "string", "format": "binary"},
                media_type=MEDIA_TYPES,
                headers=DOWNLOAD_HEADERS,
            ),
            query=downloads.DownloadQuery,
            query_refusal=403,
            errors=(BadSignature, FileNotFound),
        ),
        Route(
            "POST",
            "/v1/files/{file_id}/signed-url",
            internal.create_signed_url,
            "create-signed-url",
            Reply(200, "A signed download URL.", SignedUrlView),
            body=Json(internal.SignedUrlRequest),
            errors=(FileNotFound,),
            internal=True,
        ),
    ),
    PROBLEMS,
)
"""Every upload route; files are private to their owner."""


def setup_routes(app: web.Application) -> None:
    """Register every route of the upload service by name."""
    add_routes(app, ROUTES)
