"""Tests of the upload service: storage backends and the MongoDB repository."""
