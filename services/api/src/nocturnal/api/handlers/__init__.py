"""api handlers."""
