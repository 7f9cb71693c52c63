"""tools.devstack.stack: settings checked before anything starts; a started stack describes itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.devstack import SERVICES, Stack, StackError, StackSettings, http_ok


def test_a_stack_without_instances_of_a_service_refuses_to_start(tmp_path: Path) -> None:
    instances = {"auth": 1, "api": 0, "upload": 1, "ratelimit": 1}

    with pytest.raises(StackError, match="api needs at least one instance"):
        Stack(StackSettings(instances=instances, run_dir=tmp_path)).start()


def test_a_stack_that_is_not_started_has_no_base_url(tmp_path: Path) -> None:
    with pytest.raises(StackError, match="not started"):
        _ = Stack(StackSettings(run_dir=tmp_path)).base_url


@pytest.mark.e2e
def test_a_running_stack_lists_every_instance_and_their_internal_listeners(
    gateway_stack: Stack,
) -> None:
    table = gateway_stack.describe()

    for instance in gateway_stack.instances:
        assert f"{instance.name}  " in table
        assert http_ok(f"{instance.url}/health/ready")
    for service in SERVICES:
        assert gateway_stack.service_url(service) in table
        assert http_ok(f"{gateway_stack.service_url(service)}/health/ready")
    assert gateway_stack.base_url in table
    assert gateway_stack.exited() == []
