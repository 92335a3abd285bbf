"""The HTTP API end to end: the real app through TestClient, a real database (SQLite and
PostgreSQL), real Redis (database 11, a queue of each test's own that no worker reads:
submissions just wait there), real API keys."""

from __future__ import annotations

import base64
import io
import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from models.base import TextLine
from rules import load_ruleset
from rules.schema import Decision, Severity
from tests.worker.conftest import redis_or_skip
from worker.api import ROUTE_ROLES, create_app
from worker.cli import app as cli_app
from worker.db import Store
from worker.db.keys import ApiKeys
from worker.db.models import ApiRole
from worker.settings import Settings
from worker.verdict import Evidence, Verdict

REDIS_URL = os.environ.get("ADREVIEW_TEST_API_REDIS_URL", "redis://127.0.0.1:6379/11")
ROLES = [r.value for r in ApiRole]


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    """Redis database 11 (skips when Redis is down)."""
    client = redis_or_skip(REDIS_URL)
    yield client
    client.close()


@pytest.fixture
def settings(broker: redis.Redis, database_url: str, tmp_path: Path) -> Iterator[Settings]:
    """Each test's own database, queue and shared folder."""
    shared = tmp_path / "shared"
    shared.mkdir()
    made = Settings(database_url=database_url, redis_url=REDIS_URL,
                    queue=f"adreview-api-test-{uuid.uuid4().hex[:8]}", shared_root=shared)
    yield made
    broker.delete(made.queue)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """The test's store, migrated."""
    opened = Store.open(settings.database_url)
    yield opened
    opened.close()


@pytest.fixture
def keys(store: Store) -> dict[str, str]:
    """One key per role, by role name."""
    return {role: ApiKeys(store).create(role, f"{role}-person")[1] for role in ROLES}


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    """A client of the app (lifespan run)."""
    with TestClient(create_app(settings, cors_origins=[])) as made:
        yield made


def auth(key: str) -> dict[str, str]:
    """The bearer header for ``key``."""
    return {"Authorization": f"Bearer {key}"}


def png(colour: tuple[int, int, int] = (250, 250, 250), size: tuple[int, int] = (200, 120)
        ) -> bytes:
    """A small PNG file."""
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format="PNG")
    return out.getvalue()


def evidence(rule: str = "absolute.first", category: str = "absolute",
             severity: Severity = Severity.REJECT) -> Evidence:
    """A match boxed at (20, 20)-(120, 60)."""
    return Evidence(rule, category, severity, "全网第一", "全 网 第 一", "全 网 第 一 销量",
                    ((20.0, 20.0), (120.0, 20.0), (120.0, 60.0), (20.0, 60.0)), 0.97)


def add_judged(store: Store, decision: Decision = Decision.REJECT,
               matches: tuple[Evidence, ...] | None = None, ad_id: str | None = None,
               data: bytes | None = None, created: datetime | None = None,
               ruleset: str = "rules-v1", owner: str | None = None) -> str:
    """An inline submission with a verdict recorded directly in the store, made with the
    API key ``owner`` when given (else by no key: only reviewers and admins see it)."""
    data = data or png()
    if matches is None:
        matches = (evidence(),) if decision is Decision.REJECT else ()
    made_by = None if owner is None else key_id(store, owner)
    ident = store.add_submission(
        None, "inline", ad_id=ad_id, api_key_id=made_by,
        metadata={"image_ref": {"inline": base64.b64encode(data).decode()}, "shop": "s-1"})
    verdict = Verdict(decision, matches, ruleset, "fake", "fake-1", None,
                      created=created or datetime.now(UTC))
    store.record_verdict(ident, verdict)
    return ident


def key_id(store: Store, key: str) -> int:
    """The id of the stored record of ``key``."""
    record = ApiKeys(store).authenticate(key)
    assert record is not None
    return record.id


def error_of(response: Any) -> dict[str, str]:
    """The ``error`` object of an error answer (and it must be one)."""
    body = response.json()
    assert set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"]
    return dict(body["error"])


# -- roles --------------------------------------------------------------------------------


def test_every_route_admits_exactly_its_roles_and_admin(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    judged = add_judged(store, owner=keys["producer"])
    calls: dict[tuple[str, str], tuple[dict[str, Any], int]] = {
        ("POST", "/v1/submissions"): ({"json": {"url": "https://cdn.example.com/a.jpg"}}, 202),
        ("GET", "/v1/submissions/{submission_id}"): ({}, 200),
        ("GET", "/v1/submissions/{submission_id}/image"): ({}, 200),
        ("GET", "/v1/submissions/{submission_id}/annotated"): ({}, 200),
        ("POST", "/v1/submissions/{submission_id}/decisions"): (
            {"json": {"action": "confirm"}}, 201),
        ("POST", "/v1/decisions"): (
            {"json": {"items": [{"submission": judged, "action": "confirm"}]}}, 200),
        ("GET", "/v1/audit"): ({}, 200),
        ("GET", "/v1/verdicts"): ({}, 200),
        ("GET", "/v1/stats"): ({}, 200),
        ("GET", "/v1/rules"): ({}, 200),
        ("POST", "/v1/rules/test"): ({"json": {"text": "全网第一"}}, 200),
        ("GET", "/v1/rules/stats"): ({}, 200),
        ("POST", "/v1/rules/diff"): ({"json": {"files": {}}}, 200),
    }
    assert set(calls) == set(ROUTE_ROLES), "every route of the role table is exercised"
    got: dict[tuple[str, str, str], int] = {}
    expected: dict[tuple[str, str, str], int] = {}
    for (method, template), (kwargs, ok) in calls.items():
        path = template.format(submission_id=judged)
        for role in [*ROLES, "none"]:
            headers = auth(keys[role]) if role != "none" else {}
            response = client.request(method, path, headers=headers, **kwargs)
            got[(method, template, role)] = response.status_code
            if role == "none":
                expected[(method, template, role)] = 401
            elif role == "admin" or ApiRole(role) in ROUTE_ROLES[(method, template)]:
                expected[(method, template, role)] = ok
            else:
                expected[(method, template, role)] = 403
    assert got == expected
    assert {r for m, t, r in expected if expected[(m, t, r)] != 403 and r != "none"} >= {
        "producer", "reviewer", "rule-editor", "admin"}


def test_when_no_key_or_a_bad_key_then_401_with_an_error_body(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    missing = client.get("/v1/verdicts")
    assert missing.status_code == 401
    assert error_of(missing)["code"] == "unauthorized"
    assert missing.headers["www-authenticate"] == "Bearer"
    wrong = client.get("/v1/verdicts", headers=auth("adr_" + "x" * 43))
    assert wrong.status_code == 401 and "unknown or revoked" in error_of(wrong)["message"]
    assert client.get("/v1/verdicts", headers={"X-API-Key": keys["reviewer"]}).status_code == 200
    record = next(k for k in ApiKeys(store).list() if k.role is ApiRole.REVIEWER)
    ApiKeys(store).revoke(record.id)
    revoked = client.get("/v1/verdicts", headers=auth(keys["reviewer"]))
    assert revoked.status_code == 401


def test_when_the_role_does_not_fit_then_403_names_the_roles_needed(
    client: TestClient, keys: dict[str, str]
) -> None:
    response = client.get("/v1/verdicts", headers=auth(keys["producer"]))
    assert response.status_code == 403
    body = error_of(response)
    assert body["code"] == "forbidden"
    assert "producer" in body["message"] and "reviewer" in body["message"]


def test_health_ready_and_metrics_need_no_key(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"database": {"ok": True}, "database_writable": {"ok": True},
                                      "redis": {"ok": True}, "spill_folder": {"ok": True}}
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert 'adreview_api_requests_total{method="GET",route="/ready",status="200"}' in metrics.text


def test_when_redis_is_down_then_ready_is_503_naming_it(settings: Settings, store: Store) -> None:
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(down, cors_origins=[])) as client:
        response = client.get("/ready")
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["database"] == {"ok": True}
    assert checks["redis"]["ok"] is False and "Connection" in checks["redis"]["error"]


def test_unknown_routes_answer_with_the_error_body(client: TestClient) -> None:
    response = client.get("/v1/nothing-here")
    assert response.status_code == 404 and error_of(response)["code"] == "not_found"


# -- producers ----------------------------------------------------------------------------


def test_a_multipart_upload_is_stored_and_queued(
    client: TestClient, store: Store, broker: redis.Redis, settings: Settings,
    keys: dict[str, str],
) -> None:
    data = png()
    response = client.post(
        "/v1/submissions", headers=auth(keys["producer"]),
        files={"file": ("ad.png", data, "image/png")},
        data={"ad_id": "ad-9", "metadata": '{"shop": "s-4"}',
              "callback_url": "https://shop.example.com/hook"})
    assert response.status_code == 202, response.text
    ident = response.json()["id"]
    stored = store.get_submission(ident)
    assert stored is not None and stored.ad_id == "ad-9" and stored.status.value == "queued"
    assert stored.metadata is not None
    assert stored.metadata["shop"] == "s-4"
    assert stored.metadata["callback_url"] == "https://shop.example.com/hook"
    assert base64.b64decode(stored.metadata["image_ref"]["inline"]) == data
    assert broker.llen(settings.queue) == 1


def test_json_submissions_take_base64_or_a_url_but_not_both(
    client: TestClient, store: Store, broker: redis.Redis, settings: Settings,
    keys: dict[str, str],
) -> None:
    headers = auth(keys["producer"])
    inline = client.post("/v1/submissions", headers=headers,
                         json={"image": base64.b64encode(png()).decode(), "ad_id": "a"})
    by_url = client.post("/v1/submissions", headers=headers,
                         json={"url": "https://cdn.example.com/b.jpg"})
    assert inline.status_code == 202 and by_url.status_code == 202
    url_sub = store.get_submission(by_url.json()["id"])
    assert url_sub is not None and url_sub.source == "url:https://cdn.example.com/b.jpg"
    assert broker.llen(settings.queue) == 2
    for body, words in [
        ({"image": "aGk=", "url": "https://x.example/a.jpg"}, "exactly one"),
        ({}, "exactly one"),
        ({"image": "not base64!"}, "base64"),
        ({"url": "/etc/passwd"}, "http(s)"),
        ({"url": "https://x.example/a.jpg", "callback_url": "ftp://x.example/"}, "http(s)"),
        ({"url": "https://x.example/a.jpg", "metadata": {"image_ref": {}}}, "reserved"),
        ({"url": "https://x.example/a.jpg", "colour": "red"}, "colour"),
    ]:
        response = client.post("/v1/submissions", headers=headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert words in error_of(response)["message"], body
    assert broker.llen(settings.queue) == 2


def test_when_the_broker_is_down_then_503_says_the_submission_is_stored(
    settings: Settings, store: Store, keys: dict[str, str]
) -> None:
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(down, cors_origins=[])) as client:
        response = client.post("/v1/submissions", headers=auth(keys["producer"]),
                               json={"url": "https://cdn.example.com/c.jpg"})
    assert response.status_code == 503
    assert error_of(response)["code"] == "broker_unavailable"
    assert "requeue" in error_of(response)["message"]
    stored = store.get_submission(response.json()["id"])
    assert stored is not None and stored.status.value == "queued"


def test_a_body_over_the_limit_is_refused_with_413(
    settings: Settings, store: Store, keys: dict[str, str]
) -> None:
    small = settings.model_copy(update={"max_image_bytes": 4000})
    with TestClient(create_app(small, cors_origins=[])) as client:
        big = os.urandom(200_000)
        declared = client.post("/v1/submissions", headers=auth(keys["producer"]),
                               files={"file": ("big.png", big, "image/png")})
        assert declared.status_code == 413
        assert error_of(declared)["code"] == "request_too_large"

        def chunks() -> Iterator[bytes]:
            for _ in range(50):
                yield b"x" * 4096

        streamed = client.post("/v1/submissions", headers={
            **auth(keys["producer"]), "Content-Type": "application/json"}, content=chunks())
        assert streamed.status_code == 413
        image = client.post("/v1/submissions", headers=auth(keys["producer"]),
                            files={"file": ("a.png", os.urandom(4500), "image/png")})
        assert image.status_code == 413 and error_of(image)["code"] == "image_too_large"
    assert store.find_submissions() == []


def test_an_upload_too_big_to_travel_inline_goes_by_the_shared_folder(
    settings: Settings, store: Store, keys: dict[str, str]
) -> None:
    tight = settings.model_copy(update={"inline_max_bytes": 100})
    data = png(size=(400, 300))
    with TestClient(create_app(tight, cors_origins=[])) as client:
        response = client.post("/v1/submissions", headers=auth(keys["producer"]),
                               files={"file": ("ad.png", data, "image/png")})
        assert response.status_code == 202, response.text
        ident = response.json()["id"]
        stored = store.get_submission(ident)
        assert stored is not None and stored.source.startswith("path:")
        assert settings.shared_root is not None
        assert stored.source.startswith(f"path:{settings.shared_root.resolve()}")
        image = client.get(f"/v1/submissions/{ident}/image", headers=auth(keys["reviewer"]))
        assert image.status_code == 200 and image.content == data


def test_a_submission_shows_its_status_verdict_evidence_and_reviews(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    ident = add_judged(store, ad_id="ad-3", owner=keys["producer"])
    store.add_review(ident, "carol", "confirm", note="clear claim")
    response = client.get(f"/v1/submissions/{ident}", headers=auth(keys["producer"]))
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["ad_id"], body["status"]) == (ident, "ad-3", "done")
    assert body["metadata"] == {"shop": "s-1"}  # the image itself is not echoed
    assert body["verdict"]["decision"] == "reject"
    assert body["verdict"]["matches"][0]["box"] == [[20.0, 20.0], [120.0, 20.0],
                                                    [120.0, 60.0], [20.0, 60.0]]
    assert [r["reviewer"] for r in body["reviews"]] == ["carol"]
    missing = client.get("/v1/submissions/nope", headers=auth(keys["producer"]))
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


def test_a_queued_submission_has_no_verdict_yet(
    client: TestClient, keys: dict[str, str]
) -> None:
    made = client.post("/v1/submissions", headers=auth(keys["producer"]),
                       json={"image": base64.b64encode(png()).decode()})
    body = client.get(f"/v1/submissions/{made.json()['id']}",
                      headers=auth(keys["producer"])).json()
    assert (body["status"], body["verdict"]) == ("queued", None)
    annotated = client.get(f"/v1/submissions/{made.json()['id']}/annotated",
                           headers=auth(keys["reviewer"]))
    assert annotated.status_code == 409 and error_of(annotated)["code"] == "no_verdict"


# -- dashboards ---------------------------------------------------------------------------


def test_verdicts_filter_by_decision_category_rule_ad_and_time(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    old = datetime.now(UTC) - timedelta(days=3)
    rejected = add_judged(store, ad_id="ad-1")
    medical = add_judged(store, matches=(evidence("medical.cure", "medical"),), ad_id="ad-2")
    passed = add_judged(store, Decision.PASS, ad_id="ad-1")
    ancient = add_judged(store, Decision.PASS, created=old)

    def ids(**params: str) -> list[str]:
        response = client.get("/v1/verdicts", headers=auth(keys["reviewer"]), params=params)
        assert response.status_code == 200, response.text
        return [item["submission"] for item in response.json()["items"]]

    assert ids() == [ancient, passed, medical, rejected]  # newest verdict (id) first
    assert ids(decision="reject") == [medical, rejected]
    assert ids(category="medical") == [medical]
    assert ids(rule="absolute.first") == [rejected]
    assert ids(ad_id="ad-1") == [passed, rejected]
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    assert ids(since=since) == [passed, medical, rejected]
    assert ids(until=since) == [ancient]
    bad = client.get("/v1/verdicts", headers=auth(keys["reviewer"]),
                     params={"decision": "maybe"})
    assert bad.status_code == 422 and error_of(bad)["code"] == "invalid_request"
    cursor = client.get("/v1/verdicts", headers=auth(keys["reviewer"]),
                        params={"cursor": "garbage"})
    assert cursor.status_code == 422 and error_of(cursor)["code"] == "invalid_cursor"


def test_pages_stay_stable_when_verdicts_arrive_between_fetches(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    original = [add_judged(store) for _ in range(23)]
    seen: list[str] = []
    arrived: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": "5", **({"cursor": cursor} if cursor else {})}
        body = client.get("/v1/verdicts", headers=auth(keys["reviewer"]), params=params).json()
        seen += [item["submission"] for item in body["items"]]
        pages += 1
        # New verdicts between page fetches, and an old submission judged again.
        arrived += [add_judged(store), add_judged(store, Decision.PASS)]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 5
    assert len(seen) == len(set(seen)), "no duplicates"
    assert seen == list(reversed(original)), "every old verdict once, in order, none skipped"
    assert not set(arrived) & set(seen)


def test_stats_count_current_verdicts_by_decision_category_and_day(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    add_judged(store)
    add_judged(store, matches=(evidence(), evidence("medical.cure", "medical")))
    add_judged(store, Decision.PASS)
    rejudged = add_judged(store, Decision.PASS)
    # A new rule set judges it again: only its current verdict counts.
    store.record_verdict(rejudged, Verdict(Decision.REVIEW, (evidence(
        "absolute.preferred", "absolute", Severity.REVIEW),), "rules-v2", "fake", "fake-1",
        None, created=datetime.now(UTC) + timedelta(seconds=1)))
    body = client.get("/v1/stats", headers=auth(keys["reviewer"])).json()
    assert body["total"] == 4
    assert body["by_decision"] == {"pass": 1, "review": 1, "reject": 2, "error": 0}
    assert body["by_category"] == {"absolute": 3, "medical": 1}
    today = datetime.now(UTC).date().isoformat()
    assert [d["day"] for d in body["by_day"]] == [today]
    assert body["by_day"][0]["reject"] == 2


def test_the_image_and_the_annotated_image_come_back(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    data = png()
    ident = add_judged(store, data=data)
    image = client.get(f"/v1/submissions/{ident}/image", headers=auth(keys["reviewer"]))
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png" and image.content == data
    drawn = client.get(f"/v1/submissions/{ident}/annotated", headers=auth(keys["reviewer"]))
    assert drawn.status_code == 200 and drawn.headers["content-type"] == "image/png"
    picture = Image.open(io.BytesIO(drawn.content)).convert("RGB")
    assert picture.size == (200, 120)
    assert picture.getpixel((20, 40)) == (220, 30, 30)  # the box's left edge, red: reject
    assert picture.getpixel((180, 110)) == (250, 250, 250)  # untouched background


def test_a_url_submission_image_is_served_once_the_worker_kept_it(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    ident = store.add_submission(None, "url:https://cdn.example.com/x.jpg",
                                 metadata={"image_ref": {"url": "https://cdn.example.com/x.jpg"}})
    response = client.get(f"/v1/submissions/{ident}/image", headers=auth(keys["reviewer"]))
    assert response.status_code == 404  # not fetched yet
    body = error_of(response)
    assert body["code"] == "image_not_available" and "URL" in body["message"]
    data = png((200, 10, 10))
    store.keep_fetched_image(ident, "0" * 64, data)
    store.keep_fetched_image(ident, "1" * 64, png((0, 0, 0)))  # the first copy stays
    response = client.get(f"/v1/submissions/{ident}/image", headers=auth(keys["reviewer"]))
    assert response.status_code == 200 and response.content == data
    assert response.headers["content-type"] == "image/png"


def test_a_scanned_image_is_read_from_the_scanned_path(
    client: TestClient, store: Store, keys: dict[str, str], tmp_path: Path
) -> None:
    path = tmp_path / "scanned.png"
    path.write_bytes(png((10, 200, 10)))
    ident = store.add_scan_submission(str(path), None)
    response = client.get(f"/v1/submissions/{ident}/image", headers=auth(keys["reviewer"]))
    assert response.status_code == 200 and response.content == path.read_bytes()


# -- reviewers ----------------------------------------------------------------------------


def test_reviewer_decisions_are_stored_with_the_key_name_and_time(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    ident = add_judged(store)
    before = datetime.now(UTC)
    response = client.post(f"/v1/submissions/{ident}/decisions", headers=auth(keys["reviewer"]),
                           json={"action": "override", "decision": "pass", "note": "第一步"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["reviewer"], body["action"], body["decision"], body["note"]) == (
        "reviewer-person", "override", "pass", "第一步")
    assert datetime.fromisoformat(body["created"]) >= before - timedelta(seconds=1)
    stored = store.reviews(ident)
    assert [(r.reviewer, r.decision.value) for r in stored] == [("reviewer-person", "pass")]
    current = store.current_verdict(ident)
    assert current is not None and current.decision is Decision.REJECT  # machine verdict kept
    same = client.post(f"/v1/submissions/{ident}/decisions", headers=auth(keys["reviewer"]),
                       json={"action": "override", "decision": "reject"})
    assert same.status_code == 422 and error_of(same)["code"] == "invalid_record"
    queued = store.add_submission(None, "inline")
    early = client.post(f"/v1/submissions/{queued}/decisions", headers=auth(keys["reviewer"]),
                        json={"action": "confirm"})
    assert early.status_code == 409 and error_of(early)["code"] == "no_verdict"


# -- rule editors -------------------------------------------------------------------------


def test_rules_show_the_active_version_and_rules(
    client: TestClient, settings: Settings, keys: dict[str, str]
) -> None:
    ruleset = load_ruleset(settings.rules_dir)
    body = client.get("/v1/rules", headers=auth(keys["rule-editor"])).json()
    assert body["version"] == ruleset.version
    assert {r["id"] for r in body["rules"]} == {r.spec.id for r in ruleset.rules}
    assert {c["id"] for c in body["categories"]} == set(ruleset.categories)


def test_rule_test_gives_the_same_json_as_the_command_line(
    client: TestClient, keys: dict[str, str]
) -> None:
    runner = CliRunner()
    for text in ["全 网 第 一，第一步先洁面", "最新款 清爽", "１００％有效 无效退款"]:
        api = client.post("/v1/rules/test", headers=auth(keys["rule-editor"]),
                          json={"text": text})
        cli = runner.invoke(cli_app, ["rules", "test", text, "--json"])
        assert cli.exit_code == 0, cli.output
        assert api.json() == json.loads(cli.stdout)
    fired = client.post("/v1/rules/test", headers=auth(keys["rule-editor"]),
                        json={"text": "全 网 第 一"}).json()
    assert fired["decision"] == "reject" and fired["matches"][0]["text"] == "全 网 第 一"


# -- the surface --------------------------------------------------------------------------


def test_openapi_documents_versioned_routes_keys_and_examples(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    assert {"/v1/submissions", "/v1/verdicts", "/v1/stats", "/v1/rules", "/v1/rules/test",
            "/health", "/ready", "/metrics"} <= set(spec["paths"])
    schemes = spec["components"]["securitySchemes"]
    assert {s["type"] for s in schemes.values()} == {"http", "apiKey"}
    for model in ("DecisionIn", "ReviewOut", "SubmissionOut", "VerdictPage", "ErrorBody"):
        assert spec["components"]["schemas"][model]["examples"], model
    content = spec["paths"]["/v1/submissions"]["post"]["requestBody"]["content"]
    assert {"application/json", "multipart/form-data"} <= set(content)
    assert content["application/json"]["schema"]["examples"][0]["url"].startswith("https://")


def test_cors_is_off_unless_origins_are_configured(settings: Settings, store: Store) -> None:
    origin = {"Origin": "https://dash.example.com"}
    with TestClient(create_app(settings, cors_origins=[])) as client:
        assert "access-control-allow-origin" not in client.get("/health", headers=origin).headers
    with TestClient(create_app(settings, cors_origins=["https://dash.example.com"])) as client:
        allowed = client.get("/health", headers=origin).headers
        assert allowed["access-control-allow-origin"] == "https://dash.example.com"


def test_a_submission_with_lines_true_shows_every_ocr_line_its_verdict_was_judged_on(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    sha = "ab" * 32
    lines = [TextLine.rect("全网第一", 20, 20, 120, 60, 0.97),
             TextLine("限时特惠", ((20.0, 70.0), (120.0, 70.0), (120.0, 90.0), (20.0, 90.0)), 0.9,
                      "限时特")]
    store.put_ocr(sha, "fake", "fake-1", lines, (200, 100), 0.1)
    ident = store.add_submission(sha, "inline", api_key_id=key_id(store, keys["producer"]),
                                 metadata={"image_ref": {"inline": ""}})
    store.record_verdict(ident, Verdict(Decision.REJECT, (evidence(),), "rules-v1", "fake",
                                        "fake-1", sha))
    plain = client.get(f"/v1/submissions/{ident}", headers=auth(keys["producer"])).json()
    assert plain["lines"] is None
    body = client.get(f"/v1/submissions/{ident}?lines=true", headers=auth(keys["producer"])).json()
    assert [line["text"] for line in body["lines"]] == ["全网第一", "限时特惠"]
    assert body["lines"][1]["first_read"] == "限时特" and len(body["lines"][0]["box"]) == 4
    queued = add_judged(store, owner=keys["producer"])  # a verdict with no stored OCR
    assert client.get(f"/v1/submissions/{queued}?lines=true",
                      headers=auth(keys["producer"])).json()["lines"] == []
