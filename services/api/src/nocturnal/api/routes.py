"""The api's public routes (all under /api/, DESIGN §1): what each takes and answers."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from nocturnal.api import SERVICE
from nocturnal.api.domain.applications import (
    APPLICANT_ROLES,
    AlreadyApplied,
    ApplicationView,
    InvalidTransition,
)
from nocturnal.api.domain.duties import (
    POSTER_ROLE,
    DutyChanged,
    DutyFull,
    DutyNotOpen,
    DutyView,
)
from nocturnal.api.domain.errors import AccountErased, InvalidValue, NotFound, NotPoster
from nocturnal.api.domain.notifications import NotificationView
from nocturnal.api.domain.profiles import ProfileView
from nocturnal.api.handlers import applications, duties, health, notifications, profiles
from nocturnal.api.handlers.duties import DutyBody, DutyListQuery, DutyPatch
from nocturnal.api.handlers.errors import PROBLEMS
from nocturnal.api.handlers.health import HealthView
from nocturnal.api.handlers.profiles import ProfilePatch
from nocturnal.api.handlers.rate_limit import API_POLICY
from nocturnal.shared.http.pagination import PageBody, PageQuery
from nocturnal.shared.http.routes import (
    SIGNED_IN,
    Json,
    Reply,
    Route,
    RouteTable,
    add_routes,
    follow,
    roles,
)

POSTER = roles(POSTER_ROLE)
APPLICANT = roles(*APPLICANT_ROLES)


def _member(method: str, path: str, handler: Any, name: str, reply: Reply, **kw: Any) -> Route:
    # Every route but /api/health counts against the api policy (`rate_limit`, the guard of
    # the request pipeline), and every one needs a signed-in caller.
    return Route(
        method, path, handler, name, reply, rate_limit=API_POLICY, **{"bearer": SIGNED_IN, **kw}
    )


ROUTES = RouteTable(
    SERVICE,
    (
        Route(
            "GET",
            "/api/health",
            health.api_health,
            "api-health",
            Reply(200, "The api answers.", HealthView),
        ),
        _member(
            "GET",
            "/api/profiles/me",
            profiles.get_me,
            "my-profile",
            Reply(
                200,
                "The caller's profile.",
                ProfileView,
                links=follow("user_id", "/user_id", "profile"),
            ),
            errors=(NotFound,),
        ),
        _member(
            "PATCH",
            "/api/profiles/me",
            profiles.patch_me,
            "edit-my-profile",
            Reply(200, "The profile as changed.", ProfileView),
            body=Json(ProfilePatch),
            errors=(NotFound,),
        ),
        _member(
            "GET",
            "/api/profiles/{user_id}",
            profiles.get_profile,
            "profile",
            Reply(200, "The user's public profile.", ProfileView),
            errors=(NotFound,),
        ),
        _member(
            "POST",
            "/api/duties",
            duties.post_duty,
            "post-duty",
            Reply(
                201,
                "The duty, OPEN, with its pay computed.",
                DutyView,
                links=follow(
                    "duty_id",
                    "/id",
                    "duty",
                    "edit-duty",
                    "cancel-duty",
                    "apply",
                    "duty-applications",
                ),
            ),
            body=Json(DutyBody),
            bearer=POSTER,
            errors=(InvalidValue, AccountErased),
        ),
        _member(
            "GET",
            "/api/duties",
            duties.list_duties,
            "duties",
            Reply(200, "A page of the matching duties, soonest first.", PageBody[DutyView]),
            query=DutyListQuery,
        ),
        _member(
            "GET",
            "/api/duties/{duty_id}",
            duties.get_duty,
            "duty",
            Reply(200, "The duty.", DutyView),
            errors=(NotFound,),
        ),
        _member(
            "PATCH",
            "/api/duties/{duty_id}",
            duties.patch_duty,
            "edit-duty",
            Reply(200, "The duty as revised, its pay recomputed.", DutyView),
            body=Json(DutyPatch),
            bearer=POSTER,
            errors=(NotFound, NotPoster, DutyNotOpen, DutyChanged, InvalidValue),
        ),
        _member(
            "POST",
            "/api/duties/{duty_id}/cancel",
            duties.cancel_duty,
            "cancel-duty",
            Reply(200, "The duty, CANCELLED; its applicants are notified.", DutyView),
            bearer=POSTER,
            errors=(NotFound, NotPoster, DutyNotOpen, DutyChanged),
        ),
        _member(
            "POST",
            "/api/duties/{duty_id}/applications",
            applications.apply,
            "apply",
            Reply(
                201,
                "The application, PENDING.",
                ApplicationView,
                links=(
                    *follow("application_id", "/id", "accept", "reject", "withdraw"),
                    *follow("duty_id", "/duty_id", "duty"),
                ),
            ),
            body=Json(applications.ApplicationBody),
            bearer=APPLICANT,
            errors=(NotFound, DutyNotOpen, AlreadyApplied),
        ),
        _member(
            "GET",
            "/api/duties/{duty_id}/applications",
            applications.list_for_duty,
            "duty-applications",
            Reply(
                200, "A page of the duty's applications, oldest first.", PageBody[ApplicationView]
            ),
            query=PageQuery,
            bearer=POSTER,
            errors=(NotFound, NotPoster),
        ),
        _member(
            "GET",
            "/api/applications/me",
            applications.list_mine,
            "my-applications",
            Reply(
                200, "A page of the caller's applications, newest first.", PageBody[ApplicationView]
            ),
            query=PageQuery,
        ),
        _member(
            "POST",
            "/api/applications/{application_id}/accept",
            applications.accept,
            "accept",
            Reply(200, "The application, ACCEPTED; the duty is FILLED when full.", ApplicationView),
            bearer=POSTER,
            errors=(NotFound, InvalidTransition, DutyNotOpen, DutyFull, DutyChanged),
        ),
        _member(
            "POST",
            "/api/applications/{application_id}/reject",
            applications.reject,
            "reject",
            Reply(200, "The application, REJECTED.", ApplicationView),
            bearer=POSTER,
            errors=(NotFound, InvalidTransition),
        ),
        _member(
            "POST",
            "/api/applications/{application_id}/withdraw",
            applications.withdraw,
            "withdraw",
            Reply(
                200,
                "The application, WITHDRAWN; an accepted one frees its position.",
                ApplicationView,
            ),
            errors=(NotFound, InvalidTransition),
        ),
        _member(
            "GET",
            "/api/notifications",
            notifications.list_notifications,
            "notifications",
            Reply(
                200,
                "A page of the caller's notifications, newest first.",
                PageBody[NotificationView],
                links=follow("notification_id", "/items/0/id", "read-notification"),
            ),
            query=PageQuery,
        ),
        _member(
            "POST",
            "/api/notifications/{notification_id}/read",
            notifications.mark_read,
            "read-notification",
            Reply(200, "The notification, read.", NotificationView),
            errors=(NotFound,),
        ),
    ),
    PROBLEMS,
)
"""Every api route; a hospital admin posts and decides, doctors and nurses apply."""


def setup_routes(app: web.Application) -> None:
    """Register every route by name."""
    add_routes(app, ROUTES)
