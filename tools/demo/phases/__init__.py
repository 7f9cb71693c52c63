"""The scenario's phases, in the order a run takes them; each records into its own section."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tools.demo.context import DemoContext
from tools.demo.phases.accounts import complete_profiles, register_users
from tools.demo.phases.applications import accept_to_capacity, apply_for_duties
from tools.demo.phases.duties import list_duties, post_duties
from tools.demo.phases.gateway import check_gateway
from tools.demo.phases.lifecycle import change_password, delete_account
from tools.demo.phases.photos import upload_photos, verify_profile_photos
from tools.demo.phases.throttling import burst_bad_logins
from tools.demo.report import Section

Phase = Callable[[DemoContext, Section], Awaitable[None]]

PHASES: tuple[tuple[str, Phase], ...] = (
    ("Gateway and health", check_gateway),
    ("Registration", register_users),
    ("Profiles", complete_profiles),
    ("Profile photos", upload_photos),
    ("Duties", post_duties),
    ("Duty listing", list_duties),
    ("Applications", apply_for_duties),
    ("Acceptance up to capacity", accept_to_capacity),
    ("Profile photo via file.uploaded", verify_profile_photos),
    ("Password change", change_password),
    ("Account deletion", delete_account),
    ("Login throttling", burst_bad_logins),
)
