"""upload adapters."""
