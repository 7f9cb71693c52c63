"""Phases: registration, and profiles made from user.registered then filled in."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import Counter
from typing import Any

from tools.demo.cast import PERSONAS, Persona
from tools.demo.context import DemoContext, Member
from tools.demo.contract import is_rfc3339, need
from tools.demo.report import DivergenceError, Section
from tools.demo.steps import EVENT_WAIT_S, poll, require, settle


async def register_users(ctx: DemoContext, section: Section) -> None:
    """Two hospital admins and six clinicians register; a second use of an e-mail is 409."""
    gate = asyncio.Semaphore(4)

    async def register_one(persona: Persona) -> Member:
        async with gate:
            return await register(ctx, section, persona)

    members = await settle(section, [register_one(p) for p in PERSONAS])
    ctx.members = {m.persona.first: m for m in members}
    roles = Counter(m.persona.role for m in members)
    section.verify(
        f"{len(members)} users registered ({', '.join(f'{n} {r}' for r, n in roles.items())})",
        len(PERSONAS),
        len(members),
    )
    helen = ctx.member("Helen")
    payload = {
        "email": helen.email,
        "password": secrets.token_urlsafe(18),
        "name": "Someone Else",
        "role": "doctor",
    }
    reply = await ctx.client.send("POST", "/api/auth/register", json_body=payload)
    section.verify("registering a taken e-mail is refused", "HTTP 409", f"HTTP {reply.status}")


async def register(ctx: DemoContext, section: Section, persona: Persona) -> Member:
    email, password = persona.email(ctx.run_id), secrets.token_urlsafe(18)
    payload = {"email": email, "password": password, "name": persona.name, "role": persona.role}
    body = await ctx.client.expect_json(
        "POST", "/api/auth/register", 201, json_body=payload, retry_busy=True
    )
    where = f"register {persona.name}"
    user = need(body, "user", where)
    section.ensure(f"{where}: token_type", "Bearer", body.get("token_type"))
    expires_in = need(body, "expires_in", where)
    section.ensure(
        f"{where}: expires_in",
        "seconds > 0",
        expires_in,
        isinstance(expires_in, int) and expires_in > 0,
    )
    for key, expected in (("email", email), ("name", persona.name), ("role", persona.role)):
        section.ensure(f"{where}: user.{key}", expected, user.get(key))
    section.ensure(
        f"{where}: user.created_at",
        "RFC 3339",
        user.get("created_at"),
        is_rfc3339(user.get("created_at")),
    )
    access_token = need(body, "access_token", where)
    need(body, "refresh_token", where)
    return Member(persona, email, password, str(need(user, "id", where)), access_token)


async def complete_profiles(ctx: DemoContext, section: Section) -> None:
    """Profiles appear through user.registered; clinicians fill theirs in."""
    require(len(ctx.members) == len(PERSONAS), "registration did not complete")
    started = time.perf_counter()
    profiles = await settle(section, [wait_for_profile(ctx, m) for m in ctx.members.values()])
    ctx.profiles_ready = section.verify(
        f"{len(profiles)} profiles created from user.registered "
        f"(in {time.perf_counter() - started:.2f} s)",
        len(ctx.members),
        len(profiles),
    )
    require(ctx.profiles_ready, "the rest needs every profile")
    for member, profile in profiles:
        for key, expected in (
            ("user_id", member.user_id),
            ("name", member.persona.name),
            ("role", member.persona.role),
        ):
            section.ensure(f"profile of {member.persona.name}: {key}", expected, profile.get(key))

    clinicians = [m for m in ctx.members.values() if m.persona.role != "hospital_admin"]
    patched = await settle(section, [fill_in_profile(ctx, section, m) for m in clinicians])
    section.verify(
        f"{len(patched)} clinicians updated their profiles (PATCH)", len(clinicians), len(patched)
    )

    amara, helen = ctx.member("Amara"), ctx.member("Helen")
    public = await ctx.client.expect_json(
        "GET", f"/api/profiles/{amara.user_id}", token=helen.access_token
    )
    section.verify(
        "an admin reads a clinician's public profile", amara.user_id, public.get("user_id")
    )
    section.verify("the public profile does not expose the e-mail", False, "email" in public)
    reply = await ctx.client.send(
        "PATCH",
        "/api/profiles/me",
        token=amara.access_token,
        json_body={"bio": "x", "is_verified": True},
    )
    section.verify("PATCH with an unknown field is refused", "HTTP 400", f"HTTP {reply.status}")
    await check_bearer_required(ctx, section)


async def wait_for_profile(ctx: DemoContext, member: Member) -> tuple[Member, dict[str, Any]]:
    async def probe() -> dict[str, Any] | None:
        reply = await ctx.client.expect(
            "GET", "/api/profiles/me", (200, 404), token=member.access_token
        )
        return reply.json_object() if reply.status == 200 else None

    profile, waited = await poll(probe, EVENT_WAIT_S)
    if profile is None:
        raise DivergenceError(
            f"GET /api/profiles/me ({member.persona.name})",
            "a profile made from user.registered",
            f"still 404 after {waited:.1f} s",
        )
    return member, profile


async def fill_in_profile(ctx: DemoContext, section: Section, member: Member) -> None:
    persona = member.persona
    changes: dict[str, Any] = {
        "specialty": persona.specialty,
        "years_experience": persona.years_experience,
        "skills": list(persona.skills),
        "bio": f"{persona.role.title()} with {persona.years_experience} years in "
        f"{persona.specialty}; happy to cover nights at short notice.",
        "location": persona.location,
    }
    profile = await ctx.client.expect_json(
        "PATCH", "/api/profiles/me", token=member.access_token, json_body=changes
    )
    for key, expected in changes.items():
        section.ensure(f"PATCH profile of {persona.name}: {key}", expected, profile.get(key))


async def check_bearer_required(ctx: DemoContext, section: Section) -> None:
    for label, headers in (("no token", {}), ("a malformed token", {"Authorization": "Bearer x"})):
        reply = await ctx.client.send("GET", "/api/profiles/me", headers=headers)
        challenge = reply.headers.get("WWW-Authenticate", "")
        section.verify(
            f"GET /api/profiles/me with {label} -> 401 + WWW-Authenticate: Bearer",
            "HTTP 401, WWW-Authenticate: Bearer ...",
            f"HTTP {reply.status}, WWW-Authenticate: {challenge or '(none)'}",
            reply.status == 401 and challenge.lower().startswith("bearer"),
        )
