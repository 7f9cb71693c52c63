"""The auth service's routes."""

from __future__ import annotations

from aiohttp import web

from nocturnal.auth.handlers import accounts, verifiers


def setup_routes(app: web.Application) -> None:
    """Register the public routes (through the gateway) and the internal ones (`/v1/*`)."""
    app.router.add_post("/api/auth/register", accounts.register, name="register")
    app.router.add_post("/api/auth/login", accounts.login, name="login")
    app.router.add_post("/api/auth/refresh", accounts.refresh, name="refresh")
    app.router.add_post("/api/auth/logout", accounts.logout, name="logout")
    app.router.add_post("/api/auth/password", accounts.change_password, name="password")
    app.router.add_get("/api/auth/me", accounts.me, name="me")
    app.router.add_delete("/api/auth/me", accounts.delete_me, name="delete_me")
    app.router.add_get("/.well-known/jwks.json", verifiers.jwks, name="jwks")
    app.router.add_get("/v1/revocations", verifiers.revocations, name="revocations")
