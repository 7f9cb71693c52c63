"""An integrator's first day: a client generated from docs/openapi.json (openapi-python-client)
drives the platform through the gateway: register, sign in, post a duty, apply, accept, upload
a profile photo. Every call goes through the generated models, requests and answers alike."""

from __future__ import annotations

import importlib
import io
import secrets
import sys
import time
from collections.abc import Iterator
from datetime import date, timedelta
from types import ModuleType
from typing import Any

import pytest
from PIL import Image

from tools.devstack import Stack
from tools.openapi.client import PACKAGE, generate_client

pytestmark = pytest.mark.e2e


class Generated:
    """The generated package's modules by dotted name below it (`api.auth.register`)."""

    def __getitem__(self, name: str) -> ModuleType:
        return importlib.import_module(f"{PACKAGE}.{name}")


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Generated]:
    root = generate_client(tmp_path_factory.mktemp("client"))
    sys.path.insert(0, str(root))
    try:
        yield Generated()
    finally:
        sys.path.remove(str(root))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (20, 40, 160)).save(buffer, "PNG")
    return buffer.getvalue()


def ok(response: Any, status: int) -> Any:
    """The parsed answer of a `sync_detailed` call that had to answer `status`."""
    assert response.status_code == status, response.content
    return response.parsed


def register(gen: Generated, base_url: str, role: str) -> tuple[Any, str]:
    """A new account of `role`, signed in, and its password (retrying while auth's hashing is
    saturated)."""
    models = gen["models"]
    body = models.Registration(
        email=f"integrator.{secrets.token_hex(4)}@example.org",
        password=secrets.token_urlsafe(18),
        name="Integrator",
        role=models.Role(role),
    )
    client = gen["client"].Client(base_url=base_url)
    for _ in range(10):
        response = gen["api.auth.register"].sync_detailed(client=client, body=body)
        if response.status_code != 503:
            break
        time.sleep(1)
    return ok(response, 201), body.password


def test_a_generated_client_registers_posts_applies_accepts_and_uploads(
    gateway_stack: Stack, generated: Generated
) -> None:
    base_url = gateway_stack.base_url
    models, client_module = generated["models"], generated["client"]
    admin, _ = register(generated, base_url, "hospital_admin")
    doctor, password = register(generated, base_url, "doctor")
    assert doctor.user.role == models.Role.DOCTOR

    credentials = models.Credentials(email=doctor.user.email, password=password)
    anonymous = client_module.Client(base_url=base_url)
    signed_in = ok(
        generated["api.auth.login"].sync_detailed(client=anonymous, body=credentials), 200
    )
    as_admin = client_module.AuthenticatedClient(base_url=base_url, token=admin.access_token)
    as_doctor = client_module.AuthenticatedClient(base_url=base_url, token=signed_in.access_token)
    me = ok(generated["api.auth.me"].sync_detailed(client=as_doctor), 200)
    assert me.id == doctor.user.id

    posting = models.DutyBody(
        title="Night cover, ICU",
        hospital_name="St Mary's General Hospital",
        department="Intensive Care Unit",
        specialty="Critical Care",
        date=date.today() + timedelta(days=7),
        start_time="22:00",
        end_time="06:00",
        hourly_rate=95.5,
        positions_needed=1,
        location="London",
        urgency=models.Urgency.URGENT,
        requirements=models.RequirementsBody(minimum_experience=2, required_skills=["ALS"]),
    )
    duty = ok(generated["api.api.post_duty"].sync_detailed(client=as_admin, body=posting), 201)
    assert (duty.status, duty.duration_hours, duty.total_compensation) == (
        models.DutyStatus.OPEN,
        8.0,
        764.0,
    )

    letter = models.ApplicationBody(cover_letter="Six years of ICU nights.")
    apply = generated["api.api.apply"]
    application = ok(apply.sync_detailed(duty.id, client=as_doctor, body=letter), 201)
    assert application.status == models.ApplicationStatus.PENDING
    again = ok(apply.sync_detailed(duty.id, client=as_doctor, body=letter), 409)
    assert (again.status, again.title) == (409, "Conflict")

    accepted = ok(generated["api.api.accept"].sync_detailed(application.id, client=as_admin), 200)
    assert accepted.status == models.ApplicationStatus.ACCEPTED
    filled = ok(generated["api.api.duty"].sync_detailed(duty.id, client=as_doctor), 200)
    assert filled.status == models.DutyStatus.FILLED

    photo = models.CreateUploadBody(
        file=generated["types"].File(
            payload=io.BytesIO(png()), file_name="me.png", mime_type="image/png"
        )
    )
    stored = ok(
        generated["api.upload.create_upload"].sync_detailed(
            client=as_doctor, body=photo, kind=models.FileKind.PROFILE_PHOTO
        ),
        201,
    )
    assert (stored.content_type, stored.original_filename) == (
        models.MediaType("image/png"),
        "me.png",
    )
    link = ok(
        generated["api.upload.get_upload_url"].sync_detailed(stored.id, client=as_doctor), 200
    )
    assert link.url.startswith("http")

    # api learns of the photo from upload's file.uploaded event.
    deadline = time.monotonic() + 30
    profile = ok(generated["api.api.my_profile"].sync_detailed(client=as_doctor), 200)
    while not isinstance(profile.photo_url, str) and time.monotonic() < deadline:
        time.sleep(0.2)
        profile = ok(generated["api.api.my_profile"].sync_detailed(client=as_doctor), 200)
    assert isinstance(profile.photo_url, str), "the profile never showed the uploaded photo"
