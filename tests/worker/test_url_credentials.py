"""Credentials in an image URL are neither stored, queued nor shown (real ``adreview
serve``, real Redis)."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

import httpx
import pytest
import redis

from tests.worker.processes import served_api
from tests.worker.test_queue import REDIS_URL, broker
from worker.client import without_credentials
from worker.db import Store
from worker.db.keys import ApiKeys

__all__ = ["broker"]  # a fixture


@pytest.mark.parametrize(("given", "kept"), [
    ("https://user:pw@cdn.example.com/a.png?sig=1", "https://cdn.example.com/a.png?sig=1"),
    ("http://token@[2001:db8::1]:8080/a.png", "http://[2001:db8::1]:8080/a.png"),
    ("https://a@b@cdn.example.com/x.png", "https://cdn.example.com/x.png"),
    ("https://cdn.example.com/p@th.png", "https://cdn.example.com/p@th.png"),
])
def test_credentials_are_cut_from_an_image_url(given: str, kept: str) -> None:
    assert without_credentials(given) == kept


@pytest.mark.slow
def test_an_image_url_with_credentials_is_stored_queued_and_shown_without_them(
    tmp_path: Path, broker: redis.Redis,
) -> None:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    queue = f"adreview-creds-{uuid.uuid4().hex[:8]}"
    with Store.open(url) as store:
        _, key = ApiKeys(store).create("admin", "ops")
    env = {"ADREVIEW_DATABASE_URL": url, "ADREVIEW_REDIS_URL": REDIS_URL,
           "ADREVIEW_QUEUE": queue}
    with served_api(tmp_path, env) as api, httpx.Client(
            base_url=api.base, headers={"Authorization": f"Bearer {key}"}, timeout=30) as http:
        made = http.post("/v1/submissions", json={
            "url": "https://shop:hunter2@cdn.example.com/ad.png?v=3"})
        assert made.status_code == 202, made.text
        shown = http.get(f"/v1/submissions/{made.json()['id']}")
    assert shown.status_code == 200
    assert "hunter2" not in shown.text and "shop:" not in shown.text
    assert "cdn.example.com/ad.png?v=3" in shown.text
    with Store.open(url) as store:
        stored = store.get_submission(made.json()["id"])
    assert stored is not None
    assert stored.source == "url:https://cdn.example.com/ad.png?v=3"
    assert stored.metadata is not None
    assert stored.metadata["image_ref"] == {"url": "https://cdn.example.com/ad.png?v=3"}
    (message,) = broker.lrange(queue, 0, -1)
    body = base64.b64decode(json.loads(message)["body"]).decode()
    assert "cdn.example.com/ad.png?v=3" in body and "hunter2" not in body
