"""Errors of the storage layer; all of them are ``AdreviewError``s.

::

    AdreviewError
    └── StorageError           the database cannot be used as asked
        ├── DatabaseUnavailable  cannot connect, or the connection failed (transient)
        │   ├── DatabaseBusy       every pooled connection stayed in use (transient)
        │   └── DatabaseFull       the database's disk is full
        ├── SchemaOutdated       the database is not migrated to this code's schema
        ├── NotFound             a referenced submission or verdict does not exist
        ├── InvalidRecord        a value cannot be stored (e.g. an unknown review action)
        │   └── DecisionRequired   a decision that leaves the item undecided (confirming
        │                          ``review``)
        └── DecisionConflict     another decision landed since the one the reviewer saw

Every message names the database by its URL with the password hidden.
"""

from __future__ import annotations

from worker.errors import AdreviewError


class StorageError(AdreviewError):
    """The database cannot be used as asked. ``url`` is the URL with its password hidden."""

    def __init__(self, message: str, url: str | None = None) -> None:
        self.url = url
        super().__init__(message)


class DatabaseUnavailable(StorageError):
    """The database could not be reached or the connection broke; retrying may succeed."""


class DatabaseFull(DatabaseUnavailable):
    """The database has no room to write (its disk is full)."""


class DatabaseBusy(DatabaseUnavailable):
    """No pooled connection came free within the pool's timeout; retrying later may work."""


class SchemaOutdated(StorageError):
    """The database schema is not at the revision this code expects."""


class NotFound(StorageError):
    """A submission or verdict that a write refers to does not exist."""


class InvalidRecord(StorageError):
    """A value that cannot be stored (an unknown status, action or decision)."""


class DecisionRequired(InvalidRecord):
    """A reviewed item ends in ``pass`` or ``reject``: confirming a ``review`` verdict (or
    overriding to ``review``) decides nothing."""


class DecisionConflict(StorageError):
    """A decision made on a stale state: ``latest`` is the decision (a ``StoredReview``)
    that landed since the one the reviewer saw."""

    def __init__(self, message: str, latest: object, url: str | None = None) -> None:
        self.latest = latest
        super().__init__(message, url)
