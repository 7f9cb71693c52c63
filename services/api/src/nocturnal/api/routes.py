"""The api's public routes (all under /api/, DESIGN §1)."""

from __future__ import annotations

from aiohttp import web

from nocturnal.api.handlers import applications, duties, health, notifications, profiles


def setup_routes(app: web.Application) -> None:
    """Register every route by name."""
    router = app.router
    router.add_get("/api/health", health.api_health, name="api-health")
    router.add_get("/api/profiles/me", profiles.get_me, name="my-profile")
    router.add_patch("/api/profiles/me", profiles.patch_me, name="edit-my-profile")
    router.add_get("/api/profiles/{user_id}", profiles.get_profile, name="profile")
    router.add_post("/api/duties", duties.post_duty, name="post-duty")
    router.add_get("/api/duties", duties.list_duties, name="duties")
    router.add_get("/api/duties/{duty_id}", duties.get_duty, name="duty")
    router.add_patch("/api/duties/{duty_id}", duties.patch_duty, name="edit-duty")
    router.add_post("/api/duties/{duty_id}/cancel", duties.cancel_duty, name="cancel-duty")
    router.add_post("/api/duties/{duty_id}/applications", applications.apply, name="apply")
    router.add_get(
        "/api/duties/{duty_id}/applications", applications.list_for_duty, name="duty-applications"
    )
    router.add_get("/api/applications/me", applications.list_mine, name="my-applications")
    router.add_post("/api/applications/{application_id}/accept", applications.accept, name="accept")
    router.add_post("/api/applications/{application_id}/reject", applications.reject, name="reject")
    router.add_post(
        "/api/applications/{application_id}/withdraw", applications.withdraw, name="withdraw"
    )
    router.add_get("/api/notifications", notifications.list_notifications, name="notifications")
    router.add_post(
        "/api/notifications/{notification_id}/read",
        notifications.mark_read,
        name="read-notification",
    )
