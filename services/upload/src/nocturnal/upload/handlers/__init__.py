"""upload handlers."""
