"""Industry scoping through the HTTP API: submissions declare an industry (form field, JSON
field or ``metadata.industry``), unknown ones are refused with 422 ``unknown_industry``
before anything is stored, rules are tested as an industry, and verdicts are filtered by
the industry they were judged as. Real app, real database (SQLite and PostgreSQL), real
Redis (a queue no worker reads), with a rule folder of the test's own."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from rules.schema import Decision
from tests.worker.test_api import (  # the API fixtures and helpers
    REDIS_URL,
    auth,
    broker,
    client,
    error_of,
    keys,
    png,
    store,
)
from tests.worker.test_industries import AD_TEXT, rules_folder
from worker.db import Store
from worker.settings import Settings
from worker.verdict import Verdict

# Fixtures, used by name below (``settings`` is this module's own).
__all__ = ["broker", "client", "keys", "store"]

KNOWN = "known: cosmetics, medical"


@pytest.fixture
def settings(broker: redis.Redis, database_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Each test's own database, queue and shared folder, and the scoped rule folder."""
    shared = tmp_path / "shared"
    shared.mkdir()
    made = Settings(database_url=database_url, redis_url=REDIS_URL,
                    queue=f"adreview-api-test-{uuid.uuid4().hex[:8]}", shared_root=shared,
                    rules_dir=rules_folder(tmp_path / "scoped"))
    yield made
    broker.delete(made.queue)


def industry_of(store: Store, ident: str) -> str | None:
    found = store.get_submission(ident)
    assert found is not None
    return found.industry


def test_submissions_declare_an_industry_by_form_field_json_field_or_metadata(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    producer = auth(keys["producer"])
    image = base64.b64encode(png()).decode()

    def accepted(response: object) -> str:
        assert response.status_code == 202, response.json()  # type: ignore[attr-defined]
        return str(response.json()["id"])  # type: ignore[attr-defined]

    form = accepted(client.post("/v1/submissions", headers=producer,
                                files={"file": ("ad.png", png(), "image/png")},
                                data={"industry": "medical", "ad_id": "ad-1"}))
    field = accepted(client.post("/v1/submissions", headers=producer,
                                 json={"image": image, "industry": "cosmetics"}))
    meta = accepted(client.post("/v1/submissions", headers=producer,
                                json={"image": image, "metadata": {"industry": "medical"}}))
    form_meta = accepted(client.post("/v1/submissions", headers=producer,
                                     files={"file": ("ad.png", png(), "image/png")},
                                     data={"metadata": json.dumps({"industry": "cosmetics"})}))
    explicit = accepted(client.post("/v1/submissions", headers=producer, json={
        "image": image, "industry": "medical", "metadata": {"industry": "cosmetics"}}))
    none = accepted(client.post("/v1/submissions", headers=producer, json={"image": image}))

    assert {i: industry_of(store, i) for i in (form, field, meta, form_meta, explicit, none)} == {
        form: "medical", field: "cosmetics", meta: "medical", form_meta: "cosmetics",
        explicit: "medical", none: None}
    shown = client.get(f"/v1/submissions/{form}", headers=producer).json()
    assert (shown["industry"], shown["ad_id"], shown["verdict"]) == ("medical", "ad-1", None)
    assert client.get(f"/v1/submissions/{none}", headers=producer).json()["industry"] is None


def test_an_unknown_industry_is_refused_with_422_before_anything_is_stored(
    client: TestClient, store: Store, keys: dict[str, str], broker: redis.Redis,
    settings: Settings,
) -> None:
    producer = auth(keys["producer"])
    image = base64.b64encode(png()).decode()
    attempts = [
        {"files": {"file": ("ad.png", png(), "image/png")}, "data": {"industry": "toys"}},
        {"json": {"image": image, "industry": "toys"}},
        {"json": {"url": "https://cdn.example.com/a.jpg", "metadata": {"industry": "toys"}}},
    ]
    for kwargs in attempts:
        response = client.post("/v1/submissions", headers=producer, **kwargs)  # type: ignore[arg-type]
        assert response.status_code == 422, response.json()
        error = error_of(response)
        assert error["code"] == "unknown_industry"
        assert error["message"] == f"unknown industry 'toys'; {KNOWN}"
    assert store.find_submissions() == []
    assert broker.llen(settings.queue) == 0


def test_rules_are_listed_with_their_industries_and_tested_as_one(
    client: TestClient, keys: dict[str, str]
) -> None:
    editor = auth(keys["rule-editor"])
    listed = client.get("/v1/rules", headers=editor).json()
    assert [(i["id"], i["name"]) for i in listed["industries"]] == [
        ("medical", "医疗"), ("cosmetics", "化妆品")]
    (treat,) = [r for r in listed["rules"] if r["id"] == "medical.treat"]
    assert treat["exempt_industries"] == ["medical"]

    def tested(body: dict[str, str]) -> str:
        response = client.post("/v1/rules/test", headers=editor, json=body)
        assert response.status_code == 200, response.json()
        return str(response.json()["decision"])

    assert tested({"text": AD_TEXT}) == "reject"
    assert tested({"text": AD_TEXT, "industry": "medical"}) == "pass"
    assert tested({"text": AD_TEXT, "industry": "cosmetics"}) == "reject"
    refused = client.post("/v1/rules/test", headers=editor,
                          json={"text": AD_TEXT, "industry": "toys"})
    assert refused.status_code == 422
    assert error_of(refused) == {"code": "unknown_industry",
                                 "message": f"unknown industry 'toys'; {KNOWN}"}


def test_verdicts_carry_their_industry_and_filter_on_it_in_sql(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    ids = {}
    for industry in ("medical", "cosmetics", None):
        ident = store.add_submission(None, "inline", industry=industry)
        store.record_verdict(ident, Verdict(Decision.PASS, (), "rules-v1", "fake", "fake-1",
                                            None, industry=industry))
        ids[industry] = ident
    reviewer = auth(keys["reviewer"])
    medical = client.get("/v1/verdicts", headers=reviewer, params={"industry": "medical"})
    assert medical.status_code == 200
    assert [(v["submission"], v["industry"]) for v in medical.json()["items"]] == [
        (ids["medical"], "medical")]
    everything = client.get("/v1/verdicts", headers=reviewer).json()["items"]
    assert {v["industry"] for v in everything} == {"medical", "cosmetics", None}
    assert client.get("/v1/verdicts", headers=reviewer,
                      params={"industry": "toys"}).json()["items"] == []
    shown = client.get(f"/v1/submissions/{ids['cosmetics']}", headers=reviewer).json()
    assert (shown["industry"], shown["verdict"]["industry"]) == ("cosmetics", "cosmetics")
