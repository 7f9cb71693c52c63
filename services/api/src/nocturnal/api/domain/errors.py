"""Errors the domain raises when a rule refuses a change; handlers map them to problems."""

from __future__ import annotations


class DomainError(Exception):
    """A business rule refused the change; `str(exc)` is safe to show to the client."""


class InvalidValue(DomainError):
    """An input value breaks a rule (HTTP 400); `field` names the offending field."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


class StateConflict(DomainError):
    """The change does not fit the resource's current state (HTTP 409)."""


class NotFound(DomainError):
    """No such resource, or none the caller may see (HTTP 404)."""


class NotPoster(DomainError):
    """The duty exists, but the caller is not the admin who posted it (HTTP 403)."""


class AccountErased(NotFound):
    """The caller's account was deleted and their data erased (HTTP 404): nothing new is stored
    for them."""

    def __init__(self) -> None:
        super().__init__("this account no longer exists")
