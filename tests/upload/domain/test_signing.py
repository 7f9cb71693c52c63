"""Signed download URLs: HMAC over key, expiry and file name."""

from __future__ import annotations

import pytest

from nocturnal.upload.domain.signing import UrlSigner

KEY = "documents/2026-11-30/0123456789abcdef0123456789abcdef.pdf"


@pytest.fixture
def signer() -> UrlSigner:
    return UrlSigner(b"s" * 32)


def test_a_signature_verifies_until_it_expires(signer: UrlSigner) -> None:
    signature = signer.sign(KEY, 1000, "cv.pdf")
    assert "=" not in signature and "+" not in signature and "/" not in signature
    assert signer.verify(KEY, 1000, "cv.pdf", signature, now=1000)
    assert not signer.verify(KEY, 1000, "cv.pdf", signature, now=1001)


@pytest.mark.parametrize(
    ("key", "expires", "filename"),
    [
        ("documents/2026-11-30/ffffffffffffffffffffffffffffffff.pdf", 1000, "cv.pdf"),
        (KEY, 1001, "cv.pdf"),
        (KEY, 1000, "other.pdf"),
    ],
)
def test_changing_any_signed_value_invalidates_the_signature(
    signer: UrlSigner, key: str, expires: int, filename: str
) -> None:
    signature = signer.sign(KEY, 1000, "cv.pdf")
    assert not signer.verify(key, expires, filename, signature, now=0)


def test_tampered_or_foreign_signatures_are_refused(signer: UrlSigner) -> None:
    signature = signer.sign(KEY, 1000, "cv.pdf")
    tampered = ("A" if signature[0] != "A" else "B") + signature[1:]
    assert not signer.verify(KEY, 1000, "cv.pdf", tampered, now=0)
    assert not signer.verify(KEY, 1000, "cv.pdf", "ü€", now=0)
    other = UrlSigner(b"t" * 32)
    assert not signer.verify(KEY, 1000, "cv.pdf", other.sign(KEY, 1000, "cv.pdf"), now=0)


def test_short_secrets_are_refused() -> None:
    with pytest.raises(ValueError):
        UrlSigner(b"short")
