"""Nocturnal auth service: users, password hashes, refresh tokens, signing keys; issues EdDSA access tokens."""
