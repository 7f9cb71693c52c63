"""Nocturnal upload service: file metadata and streamed object storage (S3 or local)."""
