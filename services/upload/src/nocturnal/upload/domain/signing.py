"""Signed download URLs of the local storage backend: HMAC-SHA256 over key, expiry and file name."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json


class BadSignature(Exception):
    """A download link whose signature is not ours, or whose time is up."""


class UrlSigner:
    """Signs and checks `(key, expires, filename)` with HMAC-SHA256 (RFC 2104), base64url.

    `expires` is a Unix time in seconds; a signature is valid until then. The file name is
    signed so a link cannot be reused to serve the bytes under another name.
    """

    def __init__(self, secret: bytes) -> None:
        if len(secret) < 32:
            raise ValueError("the URL signing secret must be at least 32 bytes")
        self._secret = secret

    def sign(self, key: str, expires: int, filename: str) -> str:
        """The signature of a download of `key` as `filename` until `expires`."""
        message = json.dumps([key, expires, filename], ensure_ascii=False).encode()
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def verify(self, key: str, expires: int, filename: str, signature: str, *, now: int) -> bool:
        """True when `signature` is ours for these values and `now` is not past `expires`."""
        expected = self.sign(key, expires, filename)
        valid = hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace"))
        return valid and now <= expires
