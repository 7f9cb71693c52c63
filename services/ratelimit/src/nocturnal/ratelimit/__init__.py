"""Nocturnal ratelimit service: sliding-window rate limits on Redis."""

SERVICE = "ratelimit"
