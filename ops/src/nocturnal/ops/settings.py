"""The operator tools' settings: the broker and the event exchange, from the environment."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from nocturnal.shared.config import SETTINGS_CONFIG


class OpsSettings(BaseSettings):
    """`AMQP_URL` and `EVENTS_EXCHANGE`, as the services read them (same defaults)."""

    model_config = SETTINGS_CONFIG

    amqp_url: str = "amqp://guest:guest@rabbitmq:5672/"
    events_exchange: str = Field(default="nocturnal.events", min_length=1)
