"""Garbage-collection pauses are observed in `python_gc_pause_seconds`, once however often the
observer is installed. (That a started service freezes its start-up objects: test_serve.py.)"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY

from nocturnal.shared.gc_pauses import observe_gc_pauses


def full_collections() -> tuple[float, float]:
    """(count, sum in seconds) of the generation-2 series, read from the registry."""
    labels = {"generation": "2"}
    count = REGISTRY.get_sample_value("python_gc_pause_seconds_count", labels)
    total = REGISTRY.get_sample_value("python_gc_pause_seconds_sum", labels)
    return count or 0.0, total or 0.0


@pytest.fixture
def no_automatic_collections() -> Iterator[None]:
    """Only the test's own `gc.collect` runs meanwhile (it collects while disabled)."""
    enabled = gc.isenabled()
    gc.disable()
    yield
    if enabled:
        gc.enable()


@pytest.mark.usefixtures("no_automatic_collections")
def test_a_full_collection_is_observed_once_in_generation_2_however_often_installed() -> None:
    observe_gc_pauses()
    observe_gc_pauses()
    count, total = full_collections()

    gc.collect(2)

    after_count, after_total = full_collections()
    assert after_count == count + 1
    assert after_total > total
