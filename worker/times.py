"""Times as people type them: an ISO 8601 time or an age such as ``90m``, ``2h``, ``7d``.

The command line's ``--since`` and the HTTP API's ``since``/``until`` accept the same
forms; ``parse_time_or_age`` is the one reading of them.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

#: Seconds per unit of an age.
AGE_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
#: An age: ASCII digits (at most nine) and one unit letter, any case.
AGE = re.compile(r"([0-9]{1,9})([smhdw])", re.IGNORECASE)
#: Longest text read as a time.
MAX_LENGTH = 64


def parse_time_or_age(value: str, now: datetime | None = None) -> datetime:
    """``value`` as an aware datetime: an age (``2h`` is two hours before ``now``) or an
    ISO 8601 time (UTC when it has no zone). ``ValueError`` for anything else.

    The other forms FastAPI accepted for a ``datetime`` query parameter (a Unix
    time in seconds, an ISO date) are read too, so that older callers keep working.
    """
    text = value.strip()
    if len(text) > MAX_LENGTH:
        raise ValueError(f"{value[:20]!r}... is too long for a time")
    age = AGE.fullmatch(text)
    if age is not None:
        moment = now or datetime.now(UTC)
        try:
            return moment - timedelta(seconds=int(age[1]) * AGE_UNITS[age[2].lower()])
        except OverflowError:
            raise ValueError(f"{value!r} reaches back before the year 1") from None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        parsed = _lenient(text, value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _lenient(text: str, value: str) -> datetime:
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(datetime).validate_python(text)
    except ValidationError:
        raise ValueError(
            f"{value!r} is neither an ISO time (2026-11-24T08:00) nor an age (90m, 2h, 7d)"
        ) from None


__all__ = ["AGE_UNITS", "parse_time_or_age"]
