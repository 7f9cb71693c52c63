"""What the upload tests stand up around the service: real files, a token issuer, an event probe."""

from __future__ import annotations

import io
from collections.abc import Callable

from PIL import Image
from polling import eventually

from nocturnal.shared.events import CloudEvent
from nocturnal.upload.settings import UploadSettings

TokenFactory = Callable[..., str]
SettingsFactory = Callable[..., UploadSettings]


def image_bytes(fmt: str, size: tuple[int, int] = (16, 16)) -> bytes:
    """A real image of `fmt` (JPEG, PNG, WEBP, PDF) made by Pillow."""
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 60)).save(buffer, fmt)
    return buffer.getvalue()


class FileEvents:
    """`file.*` events seen on the session's exchange during one test."""

    def __init__(self) -> None:
        self.seen: list[CloudEvent] = []

    async def wait_for(self, name: str, file_id: str) -> CloudEvent:
        """The `name` event of `file_id`, waiting a bounded time for it."""

        def found() -> CloudEvent | None:
            matching = (e for e in self.seen if (e.name, e.data.get("file_id")) == (name, file_id))
            return next(matching, None)

        async def arrived() -> bool:
            return found() is not None

        await eventually(arrived, f"{name} of {file_id}")
        event = found()
        assert event is not None
        return event
