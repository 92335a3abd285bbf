"""Typed dependencies of the routes: the app's shared state and the key a route admits.

``ROUTE_ROLES`` says which roles each route admits besides ``admin``; a route declares
its key as ``Annotated[StoredKey, roles("GET", "/v1/verdicts")]``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi import Path as PathParam

from worker.api.auth import require
from worker.api.state import ApiState
from worker.db.keys import StoredKey
from worker.db.models import ApiRole

#: Which roles each route admits besides ``admin`` (documentation and tests read this).
ROUTE_ROLES: dict[tuple[str, str], frozenset[ApiRole]] = {
    ("POST", "/v1/submissions"): frozenset({ApiRole.PRODUCER}),
    ("GET", "/v1/submissions/{submission_id}"): frozenset({ApiRole.PRODUCER, ApiRole.REVIEWER}),
    ("GET", "/v1/submissions/{submission_id}/image"): frozenset({ApiRole.REVIEWER}),
    ("GET", "/v1/submissions/{submission_id}/annotated"): frozenset({ApiRole.REVIEWER}),
    ("POST", "/v1/submissions/{submission_id}/decisions"): frozenset({ApiRole.REVIEWER}),
    ("POST", "/v1/decisions"): frozenset({ApiRole.REVIEWER}),
    ("GET", "/v1/audit"): frozenset(),
    ("GET", "/v1/verdicts"): frozenset({ApiRole.REVIEWER}),
    ("GET", "/v1/stats"): frozenset({ApiRole.REVIEWER}),
    ("GET", "/v1/rules"): frozenset({ApiRole.RULE_EDITOR, ApiRole.REVIEWER}),
    ("POST", "/v1/rules/test"): frozenset({ApiRole.RULE_EDITOR}),
    ("GET", "/v1/rules/stats"): frozenset({ApiRole.RULE_EDITOR}),
    ("POST", "/v1/rules/diff"): frozenset({ApiRole.RULE_EDITOR}),
}

#: Roles that see every submission; any other key sees only the ones it submitted.
SEE_ALL = frozenset({ApiRole.REVIEWER, ApiRole.ADMIN})


def api_state(request: Request) -> ApiState:
    """The shared state of the app serving ``request``."""
    state: ApiState = request.app.state.api
    return state


#: The app's shared state.
StateDep = Annotated[ApiState, Depends(api_state)]
#: A submission id in a route path.
SubmissionId = Annotated[str, PathParam(max_length=64, description="A submission id.")]


def roles(method: str, path: str) -> Any:
    """The dependency admitting the keys ``ROUTE_ROLES`` names for the route."""
    return Depends(require(*ROUTE_ROLES[(method, path)]))


def sees(key: StoredKey, owner: int | None) -> bool:
    """Whether ``key`` may read a submission made with key id ``owner``."""
    return key.role in SEE_ALL or (owner is not None and owner == key.id)


__all__ = ["ROUTE_ROLES", "SEE_ALL", "StateDep", "SubmissionId", "api_state", "roles", "sees"]
