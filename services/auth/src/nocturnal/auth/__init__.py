"""Nocturnal auth service: users, password hashes, refresh tokens, signing keys; issues EdDSA access tokens."""

SERVICE = "auth"
"""The service name: event source `/services/auth`, queue names, metrics and log labels."""
