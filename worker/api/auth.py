"""API-key authentication and role checks.

A request names its key in ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``.
No key, or an unknown or revoked one, is 401; a key whose role may not use the route is
403; an address with too many failed attempts is 429 (``worker.api.throttle``).
``admin`` keys may use every route. Keys are made with ``adreview keys create``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from worker.api.state import ApiProblem, ApiState
from worker.db.keys import StoredKey
from worker.db.models import ApiRole

bearer = HTTPBearer(auto_error=False, description="`Authorization: Bearer <key>`")
api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False,
                              description="`X-API-Key: <key>`")


#: Longest credential looked up (a key of ``adreview keys create`` is 47 characters).
MAX_KEY_LENGTH = 200


def client_address(request: Request) -> str:
    """The client's address (a trusted proxy's ``X-Forwarded-For`` already applied)."""
    return request.client.host if request.client is not None else "unknown"


def unauthorized(message: str) -> ApiProblem:
    """A 401 answer asking for a key."""
    return ApiProblem(401, "unauthorized", message, headers={"WWW-Authenticate": "Bearer"})


def require(*roles: ApiRole) -> Callable[..., object]:
    """A dependency admitting keys with one of ``roles`` (or ``admin``); gives the key."""
    allowed = frozenset(roles) | {ApiRole.ADMIN}
    names = ", ".join(sorted(r.value for r in allowed))

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
        header_key: Annotated[str | None, Depends(api_key_header)],
    ) -> StoredKey:
        given = credentials.credentials if credentials is not None else header_key
        if not given:
            raise unauthorized("an API key is needed: `Authorization: Bearer <key>` "
                               "or `X-API-Key: <key>`")
        state: ApiState = request.app.state.api
        address = client_address(request)
        state.throttle.check(address)
        if len(given) > MAX_KEY_LENGTH:
            state.throttle.failed(address)
            raise unauthorized("the API key is unknown or revoked")
        key = await state.run_db(lambda: state.keys().authenticate(given))
        if key is None:
            state.throttle.failed(address)
            raise unauthorized("the API key is unknown or revoked")
        if key.role not in allowed:
            raise ApiProblem(403, "forbidden",
                             f"this key's role ({key.role.value}) may not do this; "
                             f"it needs one of: {names}")
        request.state.api_key = key
        return key

    return dependency


__all__ = ["MAX_KEY_LENGTH", "api_key_header", "bearer", "client_address", "require",
           "unauthorized"]
