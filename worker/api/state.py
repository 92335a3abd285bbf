"""What one API process holds: settings, the store and the rule set (opened on first use),
and the error type every route raises."""

from __future__ import annotations

import threading
from collections.abc import Mapping

from rules import RuleSet, load_ruleset
from worker.db import Store
from worker.db.keys import ApiKeys
from worker.errors import AdreviewError
from worker.settings import Settings

#: Bytes a request body may have beyond the largest image (base64 growth, form fields).
BODY_MARGIN = 64 * 1024


def body_limit(settings: Settings) -> int:
    """The largest request body accepted: a base64-encoded largest image plus a margin."""
    return (settings.max_image_bytes + 2) // 3 * 4 + BODY_MARGIN


class ApiProblem(AdreviewError):
    """An error answer: HTTP ``status`` with ``{"error": {"code", "message"}}``."""

    def __init__(self, status: int, code: str, message: str,
                 headers: Mapping[str, str] | None = None,
                 extra: Mapping[str, object] | None = None) -> None:
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})
        super().__init__(message)


class ApiState:
    """The shared resources of one app; the store and rules load lazily, once."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._store: Store | None = None
        self._ruleset: RuleSet | None = None

    def store(self) -> Store:
        """The store (opened, and migrated, on first use)."""
        with self._lock:
            if self._store is None:
                self._store = Store.open(self.settings.database_url)
            return self._store

    def keys(self) -> ApiKeys:
        """The API keys in the store."""
        return ApiKeys(self.store())

    def ruleset(self) -> RuleSet:
        """The active rule set (``settings.rules_dir``, loaded on first use)."""
        with self._lock:
            if self._ruleset is None:
                self._ruleset = load_ruleset(self.settings.rules_dir)
            return self._ruleset

    def close(self) -> None:
        """Close the store's connections."""
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None


__all__ = ["BODY_MARGIN", "ApiProblem", "ApiState", "body_limit"]
