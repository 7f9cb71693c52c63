"""Which MongoDB errors mean "the database is unreachable or too slow right now".

A request meeting one answers 503 with `Retry-After` (`nocturnal.shared.http.errors`), an event
handler meeting one holds its message and tries again instead of spending a delivery
(`nocturnal.shared.events.consumer`): the database coming back repairs both, no data is wrong.
"""

from __future__ import annotations

from pymongo.errors import ConnectionFailure, ExecutionTimeout, PyMongoError, WTimeoutError

DATABASE_UNAVAILABLE: tuple[type[PyMongoError], ...] = (
    ConnectionFailure,  # no server selected, connection refused or reset, socket timeout
    ExecutionTimeout,  # an operation or a transaction ran out of its time (timeoutMS)
    WTimeoutError,  # the write concern was not satisfied in time
)
"""The error classes (and their subclasses) of an unreachable or hung database."""


class CommitOutcomeUnknown(ConnectionFailure):
    """A transaction's commit the database never confirmed, not even when asked again within
    the grace (`nocturnal.shared.mongo.COMMIT_GRACE_S`): the change may or may not be stored.
    A database-unavailable error (a `ConnectionFailure`) whose answer says so: 503 with a
    detail telling the client to check before repeating the change."""


RETRY_AFTER_S = 5
"""What a 503 of an unreachable database tells the client to wait (seconds): about the time a
replica set takes to elect a new primary."""


def database_unavailable(exc: BaseException) -> bool:
    """True when `exc` says the database is unreachable or hung (see `DATABASE_UNAVAILABLE`),
    as opposed to refusing the operation (duplicate key, validation, ...)."""
    return isinstance(exc, DATABASE_UNAVAILABLE)


def transaction_contended(exc: BaseException) -> bool:
    """True when `exc` is a transaction's transient failure (`TransientTransactionError`: a
    write conflict with another transaction). Not the operation's fault, and it ends by
    itself: the other transaction commits or aborts, or the server reaps it (at the latest
    `transactionLifetimeLimitSeconds` after it began — 60 s — for one a client abandoned,
    e.g. cut off by an outage)."""
    return isinstance(exc, PyMongoError) and exc.has_error_label("TransientTransactionError")
