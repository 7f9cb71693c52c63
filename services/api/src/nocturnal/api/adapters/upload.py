"""Client of the upload service's internal signed-URL endpoint (for profile photo URLs)."""

from __future__ import annotations

import aiohttp
from yarl import URL

from nocturnal.shared.logging import get_logger

log = get_logger("upload-client")


class UploadClient:
    """Asks upload for signed download URLs: `POST {base}/v1/files/{file_id}/signed-url`.

    Uses the shared peer session (keep-alive, bounded timeout). Never raises: a missing file,
    an error answer or an unreachable upload service gives None and a warning.
    """

    def __init__(self, session: aiohttp.ClientSession, base_url: str, *, expires_in_s: int) -> None:
        self._session = session
        self._base = URL(base_url.rstrip("/"))
        self._expires_in_s = expires_in_s

    async def signed_url(self, file_id: str) -> str | None:
        """A URL serving the file for `expires_in_s` seconds, or None when there is none."""
        url = self._base / "v1" / "files" / file_id / "signed-url"
        try:
            async with self._session.post(url, json={"expires_in": self._expires_in_s}) as resp:
                if resp.status == 200:
                    body = await resp.json()
                    signed = body.get("url") if isinstance(body, dict) else None
                    if isinstance(signed, str) and signed:
                        return signed
                reason = f"status {resp.status}"
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            reason = repr(exc)
        log.warning("photo url unavailable", file_id=file_id, reason=reason)
        return None
