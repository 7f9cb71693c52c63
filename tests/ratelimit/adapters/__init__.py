"""Tests of the ratelimit service."""
