"""api domain: profiles, duties, applications and notifications as plain Python (no I/O)."""
