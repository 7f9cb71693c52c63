"""Counting live instances through DNS."""

from __future__ import annotations

import socket

import pytest

from nocturnal.shared.ratelimit.instances import LiveInstances


async def test_without_a_name_there_is_one_instance() -> None:
    instances = LiveInstances(None)
    await instances.refresh()
    assert instances.count == 1


async def test_the_count_is_the_number_of_distinct_addresses_of_the_name() -> None:
    expected = {info[4][0] for info in socket.getaddrinfo("localhost", None)}
    instances = LiveInstances("localhost")
    await instances.refresh()
    assert instances.count == len(expected)


@pytest.mark.parametrize("name", ["no-such-host.invalid", "bad..name"])
async def test_an_unresolvable_name_counts_as_one_instance(name: str) -> None:
    instances = LiveInstances(name)
    instances.count = 5
    await instances.refresh()
    assert instances.count == 1


async def test_without_a_name_the_configured_count_holds() -> None:
    instances = LiveInstances(None, configured=3)
    await instances.refresh()
    assert instances.count == 3
