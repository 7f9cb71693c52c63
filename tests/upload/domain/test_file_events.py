"""upload's event payloads speak the domain's values."""

from __future__ import annotations

from event_samples import literal_values

from nocturnal.shared.event_payloads import FileData
from nocturnal.upload.domain.files import FileKind, MediaType


def test_file_kinds_and_media_types_are_the_domain_ones() -> None:
    assert literal_values(FileData, "kind") == {kind.value for kind in FileKind}
    assert literal_values(FileData, "content_type") == {media.value for media in MediaType}
