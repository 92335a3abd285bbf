"""Property-based tests of the HTTP API from its own OpenAPI schema (schemathesis): every
operation, called with an admin key against the real app (ASGI), a real database (SQLite
and PostgreSQL) and real Redis, never answers with a server error - with inputs that
follow the schema and with inputs that break it (negative mode: strings past their
maximum length, numbers past their bounds, wrong types), NUL characters allowed in both."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from tests.worker.conftest import redis_or_skip
from worker.api import create_app
from worker.db import Store
from worker.db.keys import ApiKeys
from worker.db.models import ApiRole
from worker.settings import Settings

REDIS_URL = os.environ.get("ADREVIEW_TEST_API_REDIS_URL", "redis://127.0.0.1:6379/11")
#: Examples per operation and backend, half of them negative: enough to find crashes, few
#: enough for both backends to finish in well under two minutes.
EXAMPLES = int(os.environ.get("ADREVIEW_TEST_SCHEMA_EXAMPLES", "60"))


class Api:
    """The app under test and an admin key for it."""

    def __init__(self, app: Any, key: str) -> None:
        self.app = app
        self.key = key


@pytest.fixture
def api(tmp_path: Path, database_url: str) -> Iterator[Api]:
    """The app on a fresh database of each backend, a queue of its own in Redis, and an
    admin key."""
    client = redis_or_skip(REDIS_URL)
    url = database_url
    with Store.open(url) as store:
        key = ApiKeys(store).create(ApiRole.ADMIN, "schema-admin")[1]
    shared = tmp_path / "shared"
    shared.mkdir()
    settings = Settings(database_url=url, redis_url=REDIS_URL, shared_root=shared,
                        queue=f"adreview-schema-test-{uuid.uuid4().hex[:8]}")
    app = create_app(settings, cors_origins=[])
    with TestClient(app):  # runs the lifespan: the store is closed at the end
        yield Api(app, key)
    client.delete(settings.queue)
    client.close()


def _operations() -> list[tuple[str, str]]:
    """(method, path) of every operation in the schema (read without a database)."""
    document = create_app(Settings(database_url="sqlite://"), cors_origins=[]).openapi()
    return [(method.upper(), path) for path, item in document["paths"].items()
            for method in item]


# schemathesis' own ``from_fixture`` parametrization does not run under pytest 9, so each
# operation is a pytest case that builds its Hypothesis test from the operation's strategy.
@pytest.mark.parametrize(("method", "path"), _operations(), ids=" ".join)
def test_no_operation_answers_a_server_error(api: Api, method: str, path: str) -> None:
    schema = schemathesis.openapi.from_asgi("/openapi.json", api.app)
    schema.config.generation.update(allow_x00=True, codec="utf-8")
    operation = schema[path][method]
    headers = {"Authorization": f"Bearer {api.key}"}
    cases = st.one_of(operation.as_strategy(GenerationMode.POSITIVE),
                      operation.as_strategy(GenerationMode.NEGATIVE))

    @hypothesis.given(case=cases)
    @hypothesis.settings(max_examples=EXAMPLES, deadline=None, database=None,
                         suppress_health_check=[hypothesis.HealthCheck.too_slow,
                                                hypothesis.HealthCheck.filter_too_much])
    def calls(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=headers, checks=[not_a_server_error])

    calls()


def test_every_request_body_in_the_schema_has_an_example(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}"), cors_origins=[])
    document = app.openapi()
    bodies = 0
    for path, item in document["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody")
            if body is None:
                continue
            for media, content in body["content"].items():
                bodies += 1
                found = content.get("examples") or content.get("example")
                target = content.get("schema", {})
                if "$ref" in target:
                    name = target["$ref"].rsplit("/", 1)[-1]
                    target = document["components"]["schemas"][name]
                found = found or target.get("examples") or target.get("example")
                assert found, f"{method.upper()} {path} ({media}) has no example"
    assert bodies >= 3
