"""Tests of the upload service: the HTTP app and event handlers."""
