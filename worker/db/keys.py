"""API keys of the HTTP API, kept in the ``api_keys`` table of a ``Store``.

A key is 32 random bytes (``secrets.token_urlsafe``) behind the ``adr_`` marker. It is
shown once, when made; the database keeps only its SHA-256, which is enough for a
high-entropy random secret (nothing to brute-force) and lets a request's key be found
by an index lookup. The stored and computed digests are still compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from worker.db.errors import InvalidRecord, NotFound
from worker.db.migrate import translate_errors
from worker.db.models import ApiKey, ApiRole, AuditEntry, utcnow
from worker.db.store import Store

#: Every key starts with this, so that leaked keys are easy to recognise (secret scanners).
KEY_MARKER = "adr_"
#: Random bytes per key.
KEY_BYTES = 32
#: Characters of the key kept in clear to tell keys apart.
PREFIX_LENGTH = 10


def hash_key(key: str) -> str:
    """The hex SHA-256 stored for ``key``."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class StoredKey:
    """An API key as stored (never the key itself)."""

    id: int
    name: str
    role: ApiRole
    prefix: str
    created: datetime
    revoked: datetime | None

    @property
    def active(self) -> bool:
        """False once revoked."""
        return self.revoked is None

    @classmethod
    def from_row(cls, row: ApiKey) -> StoredKey:
        """Copy an ORM row."""
        return cls(row.id, row.name, ApiRole(row.role), row.prefix, row.created_at,
                   row.revoked_at)

    def to_dict(self) -> dict[str, Any]:
        """As JSON."""
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role.value,
            "prefix": self.prefix,
            "created": self.created.isoformat(),
            "revoked": None if self.revoked is None else self.revoked.isoformat(),
        }


class ApiKeys:
    """Making, listing, revoking and checking API keys in a ``Store``'s database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _session(self) -> Session:
        return Session(self.store.engine, expire_on_commit=False)

    def create(self, role: ApiRole | str, name: str | None = None) -> tuple[StoredKey, str]:
        """Make a key; returns (its record, the key). The key cannot be read back later."""
        try:
            chosen = ApiRole(role)
        except ValueError:
            allowed = ", ".join(r.value for r in ApiRole)
            raise InvalidRecord(f"{role!r} is not a role; expected one of {allowed}") from None
        key = KEY_MARKER + secrets.token_urlsafe(KEY_BYTES)
        row = ApiKey(name=name or f"{chosen.value} key", role=chosen.value,
                     key_hash=hash_key(key), prefix=key[:PREFIX_LENGTH], created_at=utcnow())
        with translate_errors(self.store.engine.url), self._session() as session, \
                session.begin():
            session.add(row)
            session.flush()
            record = StoredKey.from_row(row)
            session.add(AuditEntry(created_at=utcnow(), actor="operator", action="key.create",
                                   subject=f"key:{record.id}",
                                   detail={"name": record.name, "role": chosen.value}))
        return record, key

    def ensure(self, role: ApiRole | str, name: str, key: str) -> tuple[StoredKey, bool]:
        """Make sure the given ``key`` exists with ``role``: keys an operator declares (a
        secrets file) rather than has made. Returns (its record, whether it was added);
        a key already stored is left as it is, revoked or not. The key must look like one
        this module makes (``adr_`` and at least 32 more characters)."""
        try:
            chosen = ApiRole(role)
        except ValueError:
            allowed = ", ".join(r.value for r in ApiRole)
            raise InvalidRecord(f"{role!r} is not a role; expected one of {allowed}") from None
        if not key.startswith(KEY_MARKER) or len(key) < len(KEY_MARKER) + 32 or any(
            c.isspace() for c in key
        ):
            raise InvalidRecord(
                f"key of {name!r} is not an API key: {KEY_MARKER} and at least 32 more "
                "characters, without spaces (make one with `adreview keys create`)"
            )
        digest = hash_key(key)
        with translate_errors(self.store.engine.url), self._session() as session, \
                session.begin():
            row = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).first()
            if row is not None:
                return StoredKey.from_row(row), False
            row = ApiKey(name=name, role=chosen.value, key_hash=digest,
                         prefix=key[:PREFIX_LENGTH], created_at=utcnow())
            session.add(row)
            session.flush()
            session.add(AuditEntry(created_at=utcnow(), actor="operator", action="key.create",
                                   subject=f"key:{row.id}",
                                   detail={"name": name, "role": chosen.value}))
            return StoredKey.from_row(row), True

    def ensure_declared(self, declared: str) -> list[tuple[StoredKey, bool]]:
        """``ensure`` every key of a declaration: one ``ROLE NAME KEY`` per line (the name
        without spaces), blank lines and ``#`` comments skipped. Every line is checked
        before any key is stored; a bad one raises ``InvalidRecord`` naming its line."""
        wanted: list[tuple[str, str, str]] = []
        for number, raw in enumerate(declared.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            parts = line.split()
            if len(parts) != 3:
                raise InvalidRecord(
                    f"line {number}: expected ROLE NAME KEY, got {len(parts)} words")
            if parts[0] not in {r.value for r in ApiRole}:
                allowed = ", ".join(r.value for r in ApiRole)
                raise InvalidRecord(f"line {number}: {parts[0]!r} is not a role ({allowed})")
            if not parts[2].startswith(KEY_MARKER) or len(parts[2]) < len(KEY_MARKER) + 32:
                raise InvalidRecord(f"line {number}: the key of {parts[1]!r} is not an API key")
            wanted.append((parts[0], parts[1], parts[2]))
        return [self.ensure(role, name, key) for role, name, key in wanted]

    def list(self) -> list[StoredKey]:
        """Every key, oldest first (revoked ones included)."""
        with translate_errors(self.store.engine.url), self._session() as session:
            rows = session.scalars(select(ApiKey).order_by(ApiKey.id))
            return [StoredKey.from_row(row) for row in rows]

    def revoke(self, key_id: int) -> StoredKey:
        """Revoke a key (idempotent); ``NotFound`` when there is no such key."""
        with translate_errors(self.store.engine.url), self._session() as session, \
                session.begin():
            revoked = session.execute(
                update(ApiKey)
                .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
                .values(revoked_at=utcnow())
                .returning(ApiKey.id)
            ).first()
            if revoked is not None:
                session.add(AuditEntry(created_at=utcnow(), actor="operator",
                                       action="key.revoke", subject=f"key:{key_id}"))
            row = session.get(ApiKey, key_id)
            if row is None:
                raise NotFound(f"no API key {key_id} in {self.store.url}", url=self.store.url)
            return StoredKey.from_row(row)

    def authenticate(self, key: str) -> StoredKey | None:
        """The active key record for ``key``, or None when it is unknown or revoked."""
        digest = hash_key(key)
        with translate_errors(self.store.engine.url), self._session() as session:
            row = session.scalars(select(ApiKey).where(ApiKey.key_hash == digest)).first()
            if row is None or not hmac.compare_digest(row.key_hash, digest):
                return None
            if row.revoked_at is not None:
                return None
            return StoredKey.from_row(row)


__all__ = ["KEY_MARKER", "ApiKeys", "StoredKey", "hash_key"]
