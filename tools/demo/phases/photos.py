"""Phases: profile photos uploaded, then shown via file.uploaded and served byte for byte."""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp

from tools.demo.client import Reply
from tools.demo.context import DemoContext, Member
from tools.demo.contract import digest_matches, is_rfc3339, need, parse_time
from tools.demo.photos import Photo, make_photo
from tools.demo.report import DivergenceError, Section
from tools.demo.steps import EVENT_WAIT_S, poll, require, settle


async def upload_photos(ctx: DemoContext, section: Section) -> None:
    """Each member uploads a Pillow-made JPEG or PNG; metadata must match the bytes sent."""
    require(bool(ctx.members), "nobody is registered")
    uploaded = await settle(section, [upload_photo(ctx, section, m) for m in ctx.members.values()])
    sizes = [m.photo.content for m in uploaded if m.photo]
    kinds = Counter(m.photo.content_type for m in uploaded if m.photo)
    section.verify(
        f"{len(uploaded)} profile photos uploaded ({', '.join(f'{n} {t}' for t, n in kinds.items())}"
        f", {sum(map(len, sizes)) / 1024:.0f} KiB)",
        len(ctx.members),
        len(uploaded),
    )
    helen, rahul = ctx.member("Helen"), ctx.member("Rahul")
    require(helen.upload_id is not None, "Helen's upload failed")
    path = f"/api/uploads/{helen.upload_id}"
    own = await ctx.client.expect_json("GET", path, token=helen.access_token)
    section.verify("the owner reads the upload's metadata", helen.upload_id, own.get("id"))
    reply = await ctx.client.send("GET", path, token=rahul.access_token)
    section.verify("someone else's upload is hidden", "HTTP 404", f"HTTP {reply.status}")


async def upload_photo(ctx: DemoContext, section: Section, member: Member) -> Member:
    photo = make_photo(member.persona, ctx.run_id)
    form = aiohttp.FormData()
    form.add_field("file", photo.content, filename=photo.filename, content_type=photo.content_type)
    body = await ctx.client.expect_json(
        "POST",
        "/api/uploads",
        201,
        token=member.access_token,
        data=form,
        params={"kind": "profile-photo"},
    )
    where = f"upload by {member.persona.name}"
    checks = (
        ("kind", "profile-photo", body.get("kind"), None),
        ("content_type", photo.content_type, body.get("content_type"), None),
        ("size", len(photo.content), body.get("size"), None),
        (
            "sha256",
            photo.sha256,
            body.get("sha256"),
            digest_matches(body.get("sha256"), photo.content),
        ),
        ("original_filename", photo.filename, body.get("original_filename"), None),
        ("created_at", "RFC 3339", body.get("created_at"), is_rfc3339(body.get("created_at"))),
    )
    for key, expected, got, ok in checks:
        section.ensure(f"{where}: {key}", expected, got, ok)
    member.photo, member.upload_id = photo, str(need(body, "id", where))
    return member


async def verify_profile_photos(ctx: DemoContext, section: Section) -> None:
    """file.uploaded sets photo_url; it and the signed URL serve exactly the bytes sent."""
    members = [m for m in ctx.members.values() if m.photo and m.upload_id]
    require(bool(members), "no photo was uploaded")
    require(ctx.profiles_ready, "the profiles were never created")
    started = time.perf_counter()
    checks = [check_photo(ctx, section, m, m.photo) for m in members if m.photo]
    served_from = await settle(section, checks)
    section.verify(
        f"{len(served_from)} profiles show photo_url via file.uploaded, bytes identical "
        f"(in {time.perf_counter() - started:.2f} s)",
        len(members),
        len(served_from),
    )
    origins = sorted({o if o != ctx.client.base_url else "the gateway" for o in served_from})
    section.note(f"photos served by: {', '.join(origins)}")
    await check_signed_url_expiry(ctx, section, members[0])


async def check_photo(ctx: DemoContext, section: Section, member: Member, photo: Photo) -> str:
    """Wait for photo_url, fetch it and the signed URL; returns the origin that served it."""
    name = member.persona.name

    async def probe() -> str | None:
        profile = await ctx.client.expect_json("GET", "/api/profiles/me", token=member.access_token)
        return str(profile["photo_url"]) if profile.get("photo_url") else None

    photo_url, waited = await poll(probe, EVENT_WAIT_S)
    if photo_url is None:
        raise DivergenceError(
            f"photo_url of {name}", "set by file.uploaded", f"still empty after {waited:.1f} s"
        )
    served = await ctx.client.download(photo_url)
    section.ensure(
        f"photo_url of {name} serves the uploaded bytes",
        photo.sha256,
        hashlib.sha256(served.body).hexdigest(),
    )
    check_download_headers(ctx, section, served, photo)

    signed = await ctx.client.expect_json(
        "GET", f"/api/uploads/{member.upload_id}/url", token=member.access_token
    )
    url = need(signed, "url", "signed URL")
    expires_at = parse_time(signed.get("expires_at"))
    delta = (expires_at - datetime.now(UTC)).total_seconds() if expires_at else None
    section.ensure(
        f"signed URL of {name}: default expiry",
        "about 3600 s from now",
        signed.get("expires_at"),
        delta is not None and 3500 <= delta <= 3700,
    )
    served = await ctx.client.download(str(url))
    section.ensure(
        f"signed URL of {name} serves the uploaded bytes",
        photo.sha256,
        hashlib.sha256(served.body).hexdigest(),
    )
    parts = urlsplit(served.url)
    return f"{parts.scheme}://{parts.netloc}"


def check_download_headers(ctx: DemoContext, section: Section, served: Reply, photo: Photo) -> None:
    """Downloads the gateway serves carry the type, nosniff and an RFC 5987 disposition."""
    if not ctx.client.is_gateway(served.url):
        return  # served by the object store directly; its headers are the store's
    disposition = served.headers.get("Content-Disposition", "")
    section.ensure(f"download {served.label}: Content-Type", photo.content_type, served.media_type)
    section.ensure(
        f"download {served.label}: X-Content-Type-Options",
        "nosniff",
        served.headers.get("X-Content-Type-Options"),
    )
    section.ensure(
        f"download {served.label}: Content-Disposition",
        "filename= and filename*=",
        disposition or "(none)",
        "filename=" in disposition and "filename*=" in disposition,
    )


async def check_signed_url_expiry(ctx: DemoContext, section: Section, member: Member) -> None:
    path = f"/api/uploads/{member.upload_id}/url"
    body = await ctx.client.expect_json(
        "GET", path, token=member.access_token, params={"expires_in": 60}
    )
    expires_at = parse_time(body.get("expires_at"))
    delta = (expires_at - datetime.now(UTC)).total_seconds() if expires_at else None
    section.verify(
        "expires_in=60 gives a URL expiring in about a minute",
        "about 60 s",
        body.get("expires_at"),
        delta is not None and 0 < delta <= 90,
    )
    reply = await ctx.client.send(
        "GET", path, token=member.access_token, params={"expires_in": 8 * 24 * 3600}
    )
    section.verify("expires_in beyond 7 days is refused", "HTTP 400", f"HTTP {reply.status}")
