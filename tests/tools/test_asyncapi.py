"""The AsyncAPI document: current with the catalogue, valid for the AsyncAPI parser, complete."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nocturnal.shared.events import EVENTS, ExchangeSpec, catalogue_queue_names
from nocturnal.shared.events.asyncapi import asyncapi_document
from tools.asyncapi import DOCUMENT, render, validate


def test_the_checked_in_document_is_current() -> None:
    assert DOCUMENT.read_text() == render(), "docs/asyncapi.json is stale: run `make asyncapi`"


def test_the_document_is_valid_asyncapi_3() -> None:
    result = validate()

    assert result.problems == [], result.output


def test_the_parser_finds_a_broken_document(tmp_path: Path) -> None:
    broken = asyncapi_document()
    operation = broken["operations"]["api.receive.user.registered"]
    operation["messages"] = [{"$ref": "#/channels/user.deleted/messages/user.deleted"}]
    path = tmp_path / "asyncapi.json"
    path.write_text(json.dumps(broken))

    problems = validate(path).problems

    assert any("asyncapi3-operation-messages-from-referred-channel" in line for line in problems)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return asyncapi_document()


def test_each_event_has_its_channel_publisher_and_consumers(document: dict[str, Any]) -> None:
    for name, spec in EVENTS.items():
        channel = document["channels"][name]
        assert channel["address"] == name
        assert channel["bindings"]["amqp"]["exchange"]["type"] == "topic"
        operations = {
            key: operation
            for key, operation in document["operations"].items()
            if operation["channel"] == {"$ref": f"#/channels/{name}"}
        }
        senders = {key.split(".")[0] for key, op in operations.items() if op["action"] == "send"}
        receivers = {key.split(".")[0] for key, op in operations.items() if op["action"] != "send"}
        assert senders == {spec.publisher}
        assert receivers == {*spec.consumers, *spec.fan_out}


def test_each_message_carries_the_envelope_with_the_events_type_source_and_data_schema(
    document: dict[str, Any],
) -> None:
    schemas = document["components"]["schemas"]
    for name, spec in EVENTS.items():
        envelope, specific = document["components"]["messages"][name]["payload"]["allOf"]
        assert envelope == {"$ref": "#/components/schemas/CloudEvent"}
        assert specific["properties"]["type"] == {"const": f"nocturnal.{name}.v1"}
        assert specific["properties"]["source"] == {"const": f"/services/{spec.publisher}"}
        data = specific["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
        assert schemas[data]["properties"].keys() == spec.payload.model_fields.keys()
    assert set(schemas["CloudEvent"]["required"]) == {
        "specversion",
        "id",
        "source",
        "type",
        "time",
        "datacontenttype",
        "data",
    }


def test_every_durable_queue_and_dead_letter_queue_is_described(document: dict[str, Any]) -> None:
    queues = {
        channel["address"]: channel["bindings"]["amqp"]
        for channel in document["channels"].values()
        if channel["bindings"]["amqp"]["is"] == "queue"
    }

    assert sorted(queues) == catalogue_queue_names(ExchangeSpec())
    api = queues["nocturnal.events.api"]
    assert api["queue"]["durable"] is True
    assert api["x-arguments"]["x-queue-type"] == "quorum"
    assert api["x-arguments"]["x-dead-letter-exchange"] == "nocturnal.events.dlx"
