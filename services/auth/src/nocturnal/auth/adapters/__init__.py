"""auth adapters."""
