"""Every event upload publishes, captured from the broker after the real routes ran (through
the outbox and its relay), matches its catalogue entry and payload model."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import TestClient
from event_samples import assert_conforms

from nocturnal.shared.events import EVENTS

from ..support import FileEvents
from .actions import upload_png

pytestmark = pytest.mark.integration


async def test_every_event_upload_publishes_matches_its_schema(
    client: TestClient, auth: dict[str, str], samples: dict[str, bytes], file_events: FileEvents
) -> None:
    created = await upload_png(client, auth, samples)
    assert (await client.delete(f"/api/uploads/{created['id']}", headers=auth)).status == 204
    await file_events.wait_for("file.deleted", created["id"])

    published = [assert_conforms(event) for event in file_events.seen]

    assert set(published) == {name for name, spec in EVENTS.items() if spec.publisher == "upload"}
