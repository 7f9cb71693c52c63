"""auth handlers."""
