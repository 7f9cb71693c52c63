"""File rules: media types from magic bytes, limits while streaming, keys, names, dispositions."""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from nocturnal.shared.ids import new_id
from nocturnal.upload.domain.files import (
    KEY_PATTERN,
    FileKind,
    FileTooLarge,
    MediaType,
    Meter,
    UnsupportedMediaType,
    clean_filename,
    content_disposition,
    detect_media_type,
    media_type_of_key,
    object_key,
)


@pytest.mark.parametrize(
    ("sample", "kind", "expected"),
    [
        ("jpeg", FileKind.PROFILE_PHOTO, MediaType.JPEG),
        ("png", FileKind.PROFILE_PHOTO, MediaType.PNG),
        ("webp", FileKind.PROFILE_PHOTO, MediaType.WEBP),
        ("pdf", FileKind.DOCUMENT, MediaType.PDF),
        ("jpeg", FileKind.DOCUMENT, MediaType.JPEG),
        ("png", FileKind.DOCUMENT, MediaType.PNG),
    ],
)
def test_accepted_types_are_detected_from_magic_bytes(
    samples: dict[str, bytes], sample: str, kind: FileKind, expected: MediaType
) -> None:
    assert detect_media_type(kind, samples[sample][:4096]) is expected


@pytest.mark.parametrize(
    ("sample", "kind"),
    [
        ("pdf", FileKind.PROFILE_PHOTO),
        ("webp", FileKind.DOCUMENT),
        ("gif", FileKind.PROFILE_PHOTO),
        ("exe", FileKind.DOCUMENT),
        ("zip", FileKind.DOCUMENT),
        ("text", FileKind.DOCUMENT),
    ],
)
def test_types_a_kind_does_not_accept_are_refused(
    samples: dict[str, bytes], sample: str, kind: FileKind
) -> None:
    with pytest.raises(UnsupportedMediaType):
        detect_media_type(kind, samples[sample])


def test_a_signature_not_at_the_start_does_not_count(samples: dict[str, bytes]) -> None:
    with pytest.raises(UnsupportedMediaType):
        detect_media_type(FileKind.DOCUMENT, b"hello " + samples["png"])
    with pytest.raises(UnsupportedMediaType):
        detect_media_type(FileKind.DOCUMENT, samples["exe"] + b"%PDF-1.7\n")


def test_kinds_have_their_limits_and_key_prefixes() -> None:
    assert FileKind.PROFILE_PHOTO.default_max_bytes == 5 * 1024 * 1024
    assert FileKind.DOCUMENT.default_max_bytes == 20 * 1024 * 1024
    assert FileKind.PROFILE_PHOTO.plural == "profile-photos"
    assert FileKind.DOCUMENT.plural == "documents"


async def _stream(*chunks: bytes) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def test_meter_counts_and_hashes_what_streams_past() -> None:
    meter = Meter(max_bytes=10)
    passed = [chunk async for chunk in meter.measure(_stream(b"abc", b"defg", b"hij"))]
    assert passed == [b"abc", b"defg", b"hij"]
    assert meter.size == 10
    assert meter.sha256 == hashlib.sha256(b"abcdefghij").hexdigest()


async def test_meter_refuses_the_chunk_that_goes_one_byte_over_the_limit() -> None:
    meter = Meter(max_bytes=10)
    passed: list[bytes] = []
    with pytest.raises(FileTooLarge):
        async for chunk in meter.measure(_stream(b"abcde", b"fghijk", b"never")):
            passed.append(chunk)
    assert passed == [b"abcde"]


def test_object_keys_are_server_made_ascii_by_kind_and_day() -> None:
    file_id = new_id()
    on = datetime(2026, 11, 30, 23, 59, tzinfo=UTC)
    key = object_key(FileKind.PROFILE_PHOTO, MediaType.JPEG, file_id, on)
    assert key == f"profile-photos/2026-11-30/{file_id}.jpg"
    assert key.isascii() and KEY_PATTERN.fullmatch(key)
    document = object_key(FileKind.DOCUMENT, MediaType.PDF, file_id, on)
    assert document == f"documents/2026-11-30/{file_id}.pdf"
    assert media_type_of_key(document) is MediaType.PDF


@pytest.mark.parametrize(
    "key",
    [
        "../etc/passwd",
        "documents/2026-11-30/../../x.pdf",
        f"documents/2026-11-30/{'a' * 32}.exe",
        f"/documents/2026-11-30/{'a' * 32}.pdf",
        f"documents/2026-11-30/{'A' * 32}.pdf",
    ],
)
def test_keys_this_service_does_not_make_are_refused(key: str) -> None:
    with pytest.raises(ValueError):
        media_type_of_key(key)


def test_file_names_are_data_nfc_without_control_characters() -> None:
    decomposed = unicodedata.normalize("NFD", "Zeugnis Müller.pdf")
    assert clean_filename(decomposed, fallback="x") == "Zeugnis Müller.pdf"
    assert clean_filename("../../etc/\x00pass\x1bwd\r\n", fallback="x") == "../../etc/passwd"
    assert clean_filename("cv\u202efdp.exe", fallback="x") == "cvfdp.exe"
    assert clean_filename(None, fallback="document.pdf") == "document.pdf"
    assert clean_filename("\x00\x01 ", fallback="document.pdf") == "document.pdf"
    assert len(clean_filename("a" * 1000, fallback="x")) == 255


def test_content_disposition_has_an_ascii_name_and_an_rfc5987_name() -> None:
    header = content_disposition('Zeugnis "Müller" 日本.pdf')
    assert header == (
        'attachment; filename="Zeugnis _Muller_ __.pdf"; '
        "filename*=UTF-8''Zeugnis%20%22M%C3%BCller%22%20%E6%97%A5%E6%9C%AC.pdf"
    )
    assert header.isascii()


def test_content_disposition_never_lets_a_name_break_out_of_the_header() -> None:
    header = content_disposition('a";\\b/c%20d.pdf')
    assert header.startswith('attachment; filename="a___b_c_20d.pdf"; ')
    assert header.endswith("filename*=UTF-8''a%22%3B%5Cb%2Fc%2520d.pdf")
