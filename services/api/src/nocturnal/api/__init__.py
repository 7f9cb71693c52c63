"""Nocturnal api service: profiles, duties, applications, notifications."""
