"""Typed application keys of the auth service: its use cases, as the handlers reach them."""

from __future__ import annotations

from aiohttp import web

from nocturnal.auth.service_layer.accounts import Accounts
from nocturnal.auth.service_layer.ports import PasswordHasher, SigningKeys
from nocturnal.auth.service_layer.verification import Verification

ACCOUNTS = web.AppKey("accounts", Accounts)
VERIFICATION = web.AppKey("verification", Verification)
SIGNING_KEYS = web.AppKey("signing_keys", SigningKeys)
PASSWORD_HASHER = web.AppKey("password_hasher", PasswordHasher)
