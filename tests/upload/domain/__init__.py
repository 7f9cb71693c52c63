"""Unit tests of the upload domain (no I/O)."""
