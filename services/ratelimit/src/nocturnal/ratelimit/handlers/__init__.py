"""ratelimit handlers."""
