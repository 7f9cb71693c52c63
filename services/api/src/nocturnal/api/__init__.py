"""Nocturnal api service: profiles, duties, applications, notifications."""

SERVICE = "api"
"""The service name: event source `/services/api`, queue names, metrics and log labels."""
