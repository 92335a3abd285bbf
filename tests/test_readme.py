"""README says what the code does: the API's role table is the one the routes enforce, and
the decision body it shows is one the API takes."""

from __future__ import annotations

import re
from pathlib import Path

from worker.api.deps import ROUTE_ROLES
from worker.api.schemas import DecisionIn

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
ROLE_ORDER = ("producer", "reviewer", "rule-editor")


def role_table() -> dict[tuple[str, str], str]:
    """(method, path) -> the role cell, for every route of the HTTP API's table."""
    found = {}
    for line in README.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]
        if len(cells) != 3 or not cells[0].startswith("`"):
            continue
        routes = re.findall(r"`([^`]+)`", cells[0])
        method = routes[0].split()[0] if routes and " " in routes[0] else None
        if method not in {"GET", "POST"}:
            continue
        base = routes[0].split()[1]
        for route in routes:
            path = route.split()[-1]
            if path.startswith("/") and " " not in route and not path.startswith("/v1/"):
                path = base.rsplit("/", 1)[0] + path  # `/annotated` after `.../image`
            found[(method, path.replace("{id}", "{submission_id}"))] = cells[1]
    return found


def test_the_role_table_names_the_roles_each_route_admits() -> None:
    table = role_table()
    for route, admitted in ROUTE_ROLES.items():
        expected = ", ".join(r for r in ROLE_ORDER if r in {a.value for a in admitted})
        assert table.get(route) == (expected or "admin"), route  # admin alone: none else


def test_the_decision_bodies_in_readme_are_ones_the_api_takes() -> None:
    bodies = re.findall(r'`(\{"(?:action": |decision": "(?:pass|reject)")[^`]*\})`', README)
    assert len(bodies) >= 2
    for body in bodies:
        DecisionIn.model_validate_json(body)
