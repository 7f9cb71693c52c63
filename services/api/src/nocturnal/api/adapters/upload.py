"""Client of the upload service's internal signed-URL endpoint (for profile photo URLs)."""

from __future__ import annotations

import aiohttp
from yarl import URL

from nocturnal.shared.breaker import CircuitBreaker
from nocturnal.shared.http.client import PEER_FAILURES
from nocturnal.shared.logging import get_logger

log = get_logger("upload-client")


class UploadClient:
    """Asks upload for signed download URLs: `POST {base}/v1/files/{file_id}/signed-url`.

    Uses the shared peer session (keep-alive, bounded timeout) behind upload's peer `breaker`.
    Never raises: a missing file, an error answer or an unreachable upload service gives None
    and a warning; while the breaker is open, None at once and no line (it logged the outage).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        *,
        expires_in_s: int,
        breaker: CircuitBreaker,
    ) -> None:
        self._session = session
        self._base = URL(base_url.rstrip("/"))
        self._expires_in_s = expires_in_s
        self._breaker = breaker

    async def signed_url(self, file_id: str) -> str | None:
        """A URL serving the file for `expires_in_s` seconds, or None when there is none."""
        if not self._breaker.allow():
            return None
        url = self._base / "v1" / "files" / file_id / "signed-url"
        try:
            async with self._session.post(url, json={"expires_in": self._expires_in_s}) as resp:
                # A 4xx (a file gone) is an answer; only a 5xx says upload is not serving.
                if resp.status >= 500:
                    self._breaker.failure()
                else:
                    self._breaker.success()
                if resp.status == 200:
                    body = await resp.json()
                    signed = body.get("url") if isinstance(body, dict) else None
                    if isinstance(signed, str) and signed:
                        return signed
                reason = f"status {resp.status}"
        except PEER_FAILURES as exc:
            self._breaker.failure()
            reason = repr(exc)
        except ValueError as exc:
            reason = repr(exc)
        except BaseException:
            self._breaker.release()
            raise
        log.warning("photo url unavailable", file_id=file_id, reason=reason)
        return None
