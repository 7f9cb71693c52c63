"""upload domain."""
