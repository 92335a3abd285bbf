"""Server-side sessions of the reviewer pages, kept in the ``review_sessions`` table.

Signing in with an API key makes a session: 32 random bytes (``secrets.token_urlsafe``)
that the browser keeps in a cookie, never the key itself. The database stores only the
SHA-256 of the session id, the key it belongs to and when it expires. A session is
valid until it expires, until it is revoked (signing out) or until its key is revoked;
``purge`` deletes sessions that ended a while ago.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from worker.db.keys import StoredKey
from worker.db.migrate import translate_errors
from worker.db.models import ApiKey, ReviewSession, utcnow
from worker.db.store import Store

#: Random bytes per session id.
SESSION_BYTES = 32
#: How long ended sessions are kept before ``purge`` deletes them.
KEEP_ENDED = timedelta(days=1)


def hash_session(session_id: str) -> str:
    """The hex SHA-256 stored for ``session_id``."""
    return hashlib.sha256(session_id.encode("utf-8", "surrogatepass")).hexdigest()


class ReviewSessions:
    """Making, checking and ending reviewer sessions in a ``Store``'s database."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def _session(self) -> Session:
        return Session(self.store.engine, expire_on_commit=False)

    def create(self, key: StoredKey, lifetime: timedelta) -> tuple[str, datetime]:
        """A new session of ``key`` lasting ``lifetime``: (its id, when it expires).

        Sessions that ended more than ``KEEP_ENDED`` ago are deleted on the way.
        """
        session_id = secrets.token_urlsafe(SESSION_BYTES)
        now = utcnow()
        expires = now + lifetime
        with translate_errors(self.store.engine.url), self._session() as session, \
                session.begin():
            session.add(ReviewSession(token_hash=hash_session(session_id), api_key_id=key.id,
                                      created_at=now, expires_at=expires))
            self._purge(session, now)
        return session_id, expires

    def lookup(self, session_id: str) -> StoredKey | None:
        """The active key of a live session, or None (unknown, expired, signed out, or its
        key revoked)."""
        now = utcnow()
        query = (
            select(ApiKey)
            .join(ReviewSession, ReviewSession.api_key_id == ApiKey.id)
            .where(ReviewSession.token_hash == hash_session(session_id),
                   ReviewSession.revoked_at.is_(None), ReviewSession.expires_at > now,
                   ApiKey.revoked_at.is_(None))
        )
        with translate_errors(self.store.engine.url), self._session() as session:
            row = session.scalars(query).first()
            return None if row is None else StoredKey.from_row(row)

    def revoke(self, session_id: str) -> bool:
        """End a session (signing out); False when there was no live one."""
        with translate_errors(self.store.engine.url), self._session() as session, \
                session.begin():
            ended = session.execute(
                update(ReviewSession)
                .where(ReviewSession.token_hash == hash_session(session_id),
                       ReviewSession.revoked_at.is_(None))
                .values(revoked_at=utcnow())
                .returning(ReviewSession.token_hash)
            ).first()
        return ended is not None

    def purge(self) -> None:
        """Delete the sessions that ended more than ``KEEP_ENDED`` ago."""
        with translate_errors(self.store.engine.url), self._session() as session, \
                session.begin():
            self._purge(session, utcnow())

    @staticmethod
    def _purge(session: Session, now: datetime) -> None:
        cutoff = now - KEEP_ENDED
        session.execute(delete(ReviewSession).where(
            or_(ReviewSession.expires_at < cutoff, ReviewSession.revoked_at < cutoff)))


__all__ = ["KEEP_ENDED", "SESSION_BYTES", "ReviewSessions", "hash_session"]
