"""Nocturnal shared platform library (config, logging, HTTP, auth, rate limiting, health, events)."""
