"""upload domain: file kinds and rules, media types, keys, file names, signed-URL signatures (no I/O)."""
