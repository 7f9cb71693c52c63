"""ratelimit domain."""
