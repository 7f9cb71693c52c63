"""Nocturnal upload service: file metadata and object storage (S3 or a local directory)."""

SERVICE = "upload"
"""The service name: event source `/services/upload`, queue names, metrics and log labels."""
