"""Rule editors' routes against a hostile editor, on a real ``adreview serve`` process:
an alias bomb is refused at once with the server's memory flat, and a body past the rule
routes' limit is refused before it is read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.rules.test_loader import alias_bomb
from tests.worker.processes import ServedApi, served_api
from worker.api.app import RULES_BODY_LIMIT
from worker.db import Store
from worker.db.keys import ApiKeys


@pytest.fixture
def api(tmp_path: Path) -> Iterator[tuple[ServedApi, str]]:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    with Store.open(url) as store:
        _, key = ApiKeys(store).create("rule-editor", "editor")
    with served_api(tmp_path, {"ADREVIEW_DATABASE_URL": url,
                               "ADREVIEW_REDIS_URL": "redis://127.0.0.1:1/0"}) as served:
        yield served, key


@pytest.mark.slow
def test_an_alias_bomb_sent_to_rules_diff_is_422_within_two_seconds_with_memory_flat(
    api: tuple[ServedApi, str],
) -> None:
    served, key = api
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=served.base, headers=headers, timeout=60) as http:
        # Warm up: the first diff loads the active rules and opens the database.
        warm = http.post("/v1/rules/diff", json={"files": {"extra.yaml": "rules: []\n"}})
        assert warm.status_code == 200, warm.text
        before = served.rss_mb()
        for depth in (7, 9):
            started = time.monotonic()
            answer = http.post("/v1/rules/diff", json={
                "files": {"bomb.yaml": alias_bomb(depth)}, "replace": True})
            took = time.monotonic() - started
            assert answer.status_code == 422, answer.text
            error = answer.json()["error"]
            assert error["code"] == "invalid_rules"
            assert "bomb.yaml:2: YAML alias *a0" in error["message"]
            assert took < 2.0, took
        after = served.rss_mb()
    assert abs(after - before) < 50, (before, after)


@pytest.mark.slow
def test_a_rule_body_past_the_rule_routes_limit_is_413_before_it_is_read(
    api: tuple[ServedApi, str],
) -> None:
    served, key = api
    body = b'{"files": {"a.yaml": "' + b"#" * (RULES_BODY_LIMIT + 1) + b'"}}'
    answer = httpx.post(f"{served.base}/v1/rules/diff", content=body, timeout=60, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert answer.status_code == 413
    assert answer.json()["error"] == {
        "code": "request_too_large",
        "message": f"the request body is over {RULES_BODY_LIMIT:,} bytes"}
