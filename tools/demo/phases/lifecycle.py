"""Phases: a password change signs every device out; a deleted account is erased everywhere."""

from __future__ import annotations

import secrets

from tools.demo.cast import OVERNIGHT
from tools.demo.context import DemoContext, Member
from tools.demo.contract import page_items
from tools.demo.report import Section
from tools.demo.steps import EVENT_WAIT_S, poll, require

BREACHED_PASSPHRASE = "Correct Horse Battery Staple"


async def change_password(ctx: DemoContext, section: Section) -> None:
    """Grace changes her password: refused when wrong, the same or breached; then every token
    she had is refused and only the new password signs in."""
    grace = ctx.member("Grace")
    new_password = secrets.token_urlsafe(18)
    for label, current, new, status in (
        ("a wrong current password", secrets.token_urlsafe(18), new_password, 401),
        ("the same password again", grace.password, grace.password, 400),
        ("a breached passphrase", grace.password, BREACHED_PASSPHRASE, 400),
        ("the right current password", grace.password, new_password, 204),
    ):
        reply = await ctx.client.send(
            "POST",
            "/api/auth/password",
            token=grace.access_token,
            json_body={"current_password": current, "new_password": new},
        )
        section.verify(f"password change with {label}", f"HTTP {status}", f"HTTP {reply.status}")
    await verify_refused_everywhere(ctx, section, grace, "her earlier access token")
    old = {"email": grace.email, "password": grace.password}
    reply = await ctx.client.send("POST", "/api/auth/login", json_body=old)
    section.verify("the old password no longer signs in", "HTTP 401", f"HTTP {reply.status}")
    fresh = await ctx.client.expect_json(
        "POST", "/api/auth/login", json_body={"email": grace.email, "password": new_password}
    )
    grace.password, grace.access_token = new_password, str(fresh["access_token"])
    reply = await ctx.client.send("GET", "/api/profiles/me", token=grace.access_token)
    section.verify(
        "the new password signs in, and its token works at once", "HTTP 200", f"HTTP {reply.status}"
    )


async def delete_account(ctx: DemoContext, section: Section) -> None:
    """Tomás deletes his account: his tokens, profile, applications and photo go everywhere;
    his booked position on the overnight shift frees up and Helen hears of it; his e-mail
    registers again as a new account."""
    tomas, helen = ctx.member("Tomás"), ctx.member("Helen")
    require(tomas.upload_id is not None, "Tomás has no photo")
    signed = await ctx.client.expect_json(
        "GET", f"/api/uploads/{tomas.upload_id}/url", token=tomas.access_token
    )
    for label, body, status in (
        ("without the password", {}, 400),
        ("with a wrong password", {"password": secrets.token_urlsafe(18)}, 401),
    ):
        reply = await ctx.client.send(
            "DELETE", "/api/auth/me", token=tomas.access_token, json_body=body
        )
        section.verify(f"deleting the account {label}", f"HTTP {status}", f"HTTP {reply.status}")
    reply = await ctx.client.send(
        "DELETE", "/api/auth/me", token=tomas.access_token, json_body={"password": tomas.password}
    )
    section.verify(
        "Tomás deletes his account with his password", "HTTP 204", f"HTTP {reply.status}"
    )
    await verify_refused_everywhere(ctx, section, tomas, "his access token")

    async def erased() -> bool | None:
        profile = await ctx.client.send(
            "GET", f"/api/profiles/{tomas.user_id}", token=helen.access_token
        )
        photo = await ctx.client.send("GET", str(signed["url"]), download=True)
        # S3 answers a signed GET of a missing key 403 when the signer may not list the bucket
        # (moto too); the local backend 404: either way the bytes are no longer served.
        return True if profile.status == 404 and photo.status in (403, 404) else None

    gone, waited = await poll(erased, EVENT_WAIT_S)
    section.verify(
        f"his profile and his photo's stored bytes are gone ({waited:.2f} s)",
        "HTTP 404, HTTP 404 (403 from S3)",
        "gone" if gone else f"still there after {waited:.1f} s",
        bool(gone),
    )
    await check_position_freed(ctx, section, helen, tomas)
    again = await ctx.client.send(
        "POST",
        "/api/auth/register",
        json_body={
            "email": tomas.email,
            "password": secrets.token_urlsafe(18),
            "name": tomas.persona.name,
            "role": tomas.persona.role,
        },
    )
    new_id = again.json_object().get("user", {}).get("id") if again.status == 201 else None
    section.verify(
        "his e-mail registers again, as a new account",
        "HTTP 201 with a new user id",
        f"HTTP {again.status}, id {'unchanged' if new_id == tomas.user_id else 'new'}",
        again.status == 201 and new_id not in (None, tomas.user_id),
    )


async def check_position_freed(
    ctx: DemoContext, section: Section, helen: Member, tomas: Member
) -> None:
    overnight = ctx.duty_id(OVERNIGHT)

    async def freed() -> tuple[str, int] | None:
        duty = await ctx.client.expect_json(
            "GET", f"/api/duties/{overnight}", token=helen.access_token
        )
        listing = await ctx.client.expect_json(
            "GET", f"/api/duties/{overnight}/applications", token=helen.access_token
        )
        applicants = {a.get("applicant_id") for a in page_items(listing, "applications")}
        shown = (str(duty.get("status")), int(duty.get("positions_filled", -1)))
        return shown if tomas.user_id not in applicants else None

    shown, waited = await poll(freed, EVENT_WAIT_S)
    section.verify(
        f"his booking on the overnight shift is withdrawn and the position free ({waited:.2f} s)",
        ("OPEN", 1),
        shown,
    )

    async def told() -> bool | None:
        body = await ctx.client.expect_json("GET", "/api/notifications", token=helen.access_token)
        notices = page_items(body, "GET /api/notifications")
        withdrawn = [
            n
            for n in notices
            if (n.get("kind"), n.get("duty_id")) == ("application.withdrawn", overnight)
        ]
        return True if withdrawn else None

    notified, waited = await poll(told, EVENT_WAIT_S)
    section.verify(
        f"Helen is told the applicant withdrew ({waited:.2f} s)",
        "a notification",
        "one" if notified else f"none after {waited:.1f} s",
        bool(notified),
    )


async def verify_refused_everywhere(
    ctx: DemoContext, section: Section, member: Member, what: str
) -> None:
    """The member's current access token is refused by auth, api and upload, once the
    revocation has reached every instance."""

    async def refused() -> bool | None:
        for path in ("/api/auth/me", "/api/profiles/me", "/api/uploads"):
            reply = await ctx.client.send("GET", path, token=member.access_token)
            if reply.status != 401:
                return None
        return True

    done, waited = await poll(refused, EVENT_WAIT_S)
    section.verify(
        f"{what} is refused by auth, api and upload ({waited:.2f} s)",
        "HTTP 401 everywhere",
        "HTTP 401 everywhere" if done else f"still accepted after {waited:.1f} s",
        bool(done),
    )
