"""Decisions that decide, between several reviewers: 422 ``decision_required`` on a
``review`` verdict, ``base_review`` and 409 ``decision_conflict``, idempotent presses,
``POST /v1/decisions`` batches, identical images decided once for all, claims, the OCR
text search, rule prefixes, the reviewer filter, CSV export and ``/v1/audit``; on SQLite
and PostgreSQL."""

from __future__ import annotations

import base64
import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from models.base import TextLine
from rules.schema import Decision, Severity
from tests.worker.test_api import auth, broker, error_of, evidence, keys, png, settings, store
from worker.api import create_app
from worker.api.console import console_filter
from worker.api.queries import VerdictFilter, list_verdicts, ordered_page
from worker.db import Store
from worker.db.keys import ApiKeys
from worker.settings import Settings
from worker.verdict import Verdict

# Fixtures, used by name below.
__all__ = ["broker", "keys", "settings", "store"]


@pytest.fixture
def client(settings: Settings, store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(settings, cors_origins=[])) as made:
        yield made


def judged(store: Store, decision: Decision = Decision.REJECT, *, text: str = "全网第一 销量",
           data: bytes | None = None, rule: str = "absolute.first", ad_id: str | None = None,
           ruleset: str = "rules-v1", metadata: dict[str, object] | None = None) -> str:
    """A submission whose image (sha256 of ``data``) the fake engine read as ``text``,
    judged ``decision`` with one match of ``rule``."""
    import hashlib

    data = data or png()
    sha = hashlib.sha256(data).hexdigest()
    ident = store.add_submission(
        sha, "inline", ad_id=ad_id,
        metadata={"image_ref": {"inline": base64.b64encode(data).decode()}, **(metadata or {})})
    store.put_ocr(sha, "fake", "fake-1", [TextLine.rect(text, 20, 20, 120, 60, 0.97)],
                  (200, 120), 0.01)
    severity = Severity.REVIEW if decision is Decision.REVIEW else Severity.REJECT
    matches = () if decision is Decision.PASS else (
        evidence(rule, rule.split(".")[0], severity),)
    store.record_verdict(ident, Verdict(decision, matches, ruleset, "fake", "fake-1", sha,
                                        created=datetime.now(UTC)))
    return ident


def post(client: TestClient, key: str, ident: str, **body: object) -> tuple[int, dict]:
    answer = client.post(f"/v1/submissions/{ident}/decisions", headers=auth(key), json=body)
    return answer.status_code, answer.json()


def test_confirming_a_review_verdict_is_refused_with_decision_required(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    ident = judged(store, Decision.REVIEW, rule="absolute.preferred")
    answer = client.post(f"/v1/submissions/{ident}/decisions", headers=auth(keys["reviewer"]),
                         json={"action": "confirm"})
    assert answer.status_code == 422
    assert error_of(answer)["code"] == "decision_required"
    status, _ = post(client, keys["reviewer"], ident, action="override", decision="review")
    assert status == 422
    assert store.reviews(ident) == []
    status, body = post(client, keys["reviewer"], ident, decision="reject")
    assert status == 201 and body["action"] == "override" and body["decision"] == "reject"
    shown = client.get(f"/v1/submissions/{ident}", headers=auth(keys["reviewer"])).json()
    assert shown["verdict"]["effective_decision"] == "reject"


def test_a_decision_on_a_stale_state_is_refused_with_the_decision_that_landed(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    alice, bob = (ApiKeys(store).create("reviewer", name)[1] for name in ("alice", "bob"))
    ident = judged(store)
    # Both opened the item before anyone decided: base_review null.
    status, first = post(client, alice, ident, decision="pass", base_review=None)
    assert status == 201
    answer = client.post(f"/v1/submissions/{ident}/decisions", headers=auth(bob),
                         json={"decision": "reject", "base_review": None})
    assert answer.status_code == 409
    assert error_of(answer)["code"] == "decision_conflict"
    latest = answer.json()["latest"]
    assert latest["id"] == first["id"] and latest["reviewer"] == "alice"
    assert latest["decision"] == "pass"
    # Having seen alice's decision, bob may decide on it.
    status, second = post(client, bob, ident, decision="reject", base_review=first["id"])
    assert status == 201 and second["reviewer"] == "bob"
    assert [r.reviewer for r in store.reviews(ident)] == ["alice", "bob"]
    # A base that is no decision about this submission is a bad request, not a conflict.
    other = judged(store)
    status, body = post(client, bob, other, decision="pass", base_review=second["id"])
    assert status == 422 and body["error"]["code"] == "invalid_record"


def test_a_double_press_stores_one_decision(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    ident = judged(store)
    key = keys["reviewer"]
    status, first = post(client, key, ident, action="confirm", base_review=None)
    assert status == 201 and first["repeated"] is False
    status, again = post(client, key, ident, action="confirm", base_review=None)
    assert status == 200 and again["repeated"] is True and again["id"] == first["id"]
    status, _ = post(client, key, ident, action="confirm")
    assert status == 200
    assert len(store.reviews(ident)) == 1
    decisions = [e for e in store.audit_log() if e.action == "decision"]
    assert len(decisions) == 1


def test_a_batch_decides_each_item_and_reports_each_result(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    key = keys["reviewer"]
    items = [judged(store, ad_id=f"ad-{n}") for n in range(10)]
    review = judged(store, Decision.REVIEW, rule="absolute.preferred")
    body = {"items": [{"submission": i, "decision": "pass", "base_review": None}
                      for i in items]
            + [{"submission": review, "action": "confirm"},
               {"submission": "no-such-submission", "decision": "pass"}]}
    answer = client.post("/v1/decisions", headers=auth(key), json=body)
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert [r["status"] for r in results] == [201] * 10 + [422, 404]
    assert results[10]["error"]["code"] == "decision_required"
    assert results[11]["error"]["code"] == "not_found"
    assert all(r["review"]["decision"] == "pass" for r in results[:10])
    for ident in items:
        assert [r.decision for r in store.reviews(ident)] == [Decision.PASS]
    # The same batch again: nothing new, each one repeated.
    again = client.post("/v1/decisions", headers=auth(key), json=body).json()["results"]
    assert [r["status"] for r in again[:10]] == [200] * 10
    # A stale base in a batch is that item's 409, with the decision that landed.
    stale = client.post("/v1/decisions", headers=auth(keys["admin"]), json={"items": [
        {"submission": items[0], "decision": "reject", "base_review": None}]}).json()
    assert stale["results"][0]["status"] == 409
    assert stale["results"][0]["latest"]["reviewer"] == "reviewer-person"
    bad = client.post("/v1/decisions", headers=auth(key), json={"items": []})
    assert bad.status_code == 422 and error_of(bad)["code"]
    producer = client.post("/v1/decisions", headers=auth(keys["producer"]), json=body)
    assert producer.status_code == 403


def test_identical_images_under_one_rule_set_are_one_queue_entry_decided_once_for_all(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    same = png((200, 30, 30))
    first, second, third = (judged(store, data=same) for _ in range(3))
    other_rules = judged(store, data=same, ruleset="rules-v2")
    alone = judged(store)
    queue = console_filter({}).where
    shown, _ = ordered_page(store, queue, 50)
    assert [v.submission for v in shown] == [first, other_rules, alone]
    from worker.api.queries import duplicate_counts

    counts = duplicate_counts(store, shown)
    assert counts[shown[0].id] == 3 and counts[shown[1].id] == 1
    status, body = post(client, keys["reviewer"], first, decision="reject", base_review=None,
                        duplicates=True)
    assert status == 201 and sorted(body["duplicates"]) == sorted([second, third])
    for ident in (first, second, third):
        assert [r.decision for r in store.reviews(ident)] == [Decision.REJECT]
    assert store.reviews(other_rules) == []
    shown, _ = ordered_page(store, queue, 50)
    assert [v.submission for v in shown] == [other_rules, alone]


def test_claims_hide_an_item_from_other_reviewers_queues_and_a_decision_releases_it(
    store: Store,
) -> None:
    a, b = judged(store, data=png((1, 1, 1))), judged(store, data=png((2, 2, 2)))
    held = store.claim(a, "alice", timedelta(minutes=5))
    assert held.reviewer == "alice"
    assert store.claim(a, "bob", timedelta(minutes=5)).reviewer == "alice"  # not taken
    queue = console_filter({}).where
    for_bob, _ = ordered_page(store, VerdictFilter(**{**queue.__dict__,
                                                       "unclaimed_for": "bob"}), 50)
    for_alice, _ = ordered_page(store, VerdictFilter(**{**queue.__dict__,
                                                         "unclaimed_for": "alice"}), 50)
    assert [v.submission for v in for_bob] == [b]
    assert [v.submission for v in for_alice] == [a, b]
    renewed = store.claim(a, "alice", timedelta(minutes=5))
    assert renewed.expires >= held.expires
    # An expired claim is anyone's.
    store.claim(b, "alice", timedelta(seconds=-1))
    assert store.claim_of(b) is None
    assert store.claim(b, "bob", timedelta(minutes=5)).reviewer == "bob"
    store.decide(a, "alice", "pass", base_review=None)
    assert store.claim_of(a) is None
    claims = store.audit_log(action="claim")
    assert {(e.actor, e.subject) for e in claims} >= {("alice", a), ("bob", b)}


def test_q_searches_the_ocr_text_and_rules_filter_by_prefix(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    key = keys["reviewer"]
    first = judged(store, text="国家级 品质 Best Seller", rule="absolute.national",
                   data=png((1, 2, 3)))
    second = judged(store, text="百分百 有效 100%_off", rule="medical.cure", data=png((4, 5, 6)))

    def ids(**params: object) -> list[str]:
        answer = client.get("/v1/verdicts", headers=auth(key), params=params)
        assert answer.status_code == 200, answer.text
        return [i["submission"] for i in answer.json()["items"]]

    assert ids(q="国家级") == [first]
    assert ids(q="best seller") == [first]  # case-insensitive
    assert ids(q="100%_") == [second]  # LIKE's wildcards taken literally
    assert ids(q="%") == [second]
    assert ids(q="nothing like it") == []
    assert ids(rule="absolute") == [first]
    assert ids(rule="absolute.national") == [first]
    assert ids(rule="absolute.nat") == []  # a prefix of ids, not of characters
    assert ids(rule="medical", q="有效") == [second]
    assert ids(rule=["absolute", "medical"]) == [second, first]


def test_filters_by_reviewer_and_effective_decision_and_the_queue_is_oldest_first_by_priority(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    old = judged(store, data=png((7, 7, 7)))
    urgent = judged(store, data=png((8, 8, 8)), metadata={"priority": 0})
    late = judged(store, data=png((9, 9, 9)), metadata={"priority": 5})
    newest = judged(store, data=png((10, 10, 10)))
    queue = console_filter({}).where
    shown, _ = ordered_page(store, queue, 50)
    assert [v.submission for v in shown] == [old, urgent, newest, late]
    page, after = ordered_page(store, queue, 2)
    rest, end = ordered_page(store, queue, 2, after)
    assert [v.submission for v in page + rest] == [old, urgent, newest, late] and end is None
    store.decide(old, "alice", "pass")
    store.decide(urgent, "bob", "reject")
    found, _ = list_verdicts(store, VerdictFilter(reviewers=("alice",)), 50)
    assert [v.submission for v in found] == [old]
    answer = client.get("/v1/verdicts", headers=auth(keys["reviewer"]),
                        params={"reviewer": "bob", "effective_decision": "reject"})
    assert [i["submission"] for i in answer.json()["items"]] == [urgent]
    del late, newest


def test_csv_export_has_each_verdict_with_its_effective_decision(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    key = keys["reviewer"]
    a = judged(store, ad_id="=HYPERLINK(1)", data=png((11, 1, 1)))
    b = judged(store, ad_id="ad-2", data=png((12, 1, 1)))
    post(client, key, b, decision="pass", note="使用步骤")
    answer = client.get("/v1/verdicts", headers=auth(key), params={"format": "csv"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    by_id = {r["submission"]: r for r in rows}
    assert set(by_id) == {a, b}
    assert by_id[b]["effective_decision"] == "pass" and by_id[b]["review_note"] == "使用步骤"
    assert by_id[b]["reviewer"] == "reviewer-person" and by_id[b]["decision"] == "reject"
    assert by_id[a]["ad_id"] == "'=HYPERLINK(1)"  # no formula
    assert by_id[a]["matched_text"] == "全 网 第 一"
    only = client.get("/v1/verdicts", headers=auth(key),
                      params={"format": "csv", "effective_decision": "pass"})
    assert len(list(csv.DictReader(io.StringIO(only.content.decode("utf-8-sig"))))) == 1
    bad = client.get("/v1/verdicts", headers=auth(key), params={"format": "xml"})
    assert bad.status_code == 422 and error_of(bad)["code"]


def test_the_audit_log_records_decisions_claims_and_keys_for_admins_only(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    ident = judged(store)
    store.claim(ident, "reviewer-person", timedelta(minutes=5))
    post(client, keys["reviewer"], ident, decision="pass", base_review=None)
    made, _ = ApiKeys(store).create("reviewer", "carol")
    ApiKeys(store).revoke(made.id)
    answer = client.get("/v1/audit", headers=auth(keys["admin"]))
    assert answer.status_code == 200, answer.text
    actions = [(e["action"], e["subject"]) for e in answer.json()["items"]]
    assert actions[:4] == [("key.revoke", f"key:{made.id}"), ("key.create", f"key:{made.id}"),
                           ("decision", ident), ("claim", ident)]
    decision = answer.json()["items"][2]
    assert decision["actor"] == "reviewer-person"
    assert decision["detail"]["decision"] == "pass" and decision["detail"]["before"] == "reject"
    only = client.get("/v1/audit", headers=auth(keys["admin"]),
                      params={"action": "decision", "limit": 1}).json()
    assert [e["action"] for e in only["items"]] == ["decision"] and only["next_before"] is None
    paged = client.get("/v1/audit", headers=auth(keys["admin"]), params={"limit": 2}).json()
    assert paged["next_before"] is not None
    for role in ("reviewer", "producer", "rule-editor"):
        assert client.get("/v1/audit", headers=auth(keys[role])).status_code == 403
    assert client.get("/v1/audit", headers=auth(keys["admin"]),
                      params={"limit": 0}).status_code == 422


def test_the_ocr_text_search_has_a_trigram_index_on_postgresql(store: Store) -> None:
    from sqlalchemy import text

    if store.backend != "postgresql":
        with store.engine.connect() as connection:  # the same name, an empty index
            found = connection.execute(text(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_ocr_results_text_trgm'"
            )).scalar()
        assert found is not None and "WHERE 0" in found
        return
    with store.engine.connect() as connection:
        found = connection.execute(text(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_ocr_results_text_trgm'"
        )).scalar()
    assert found is not None and "gin" in found and "gin_trgm_ops" in found


def test_two_decisions_at_once_on_the_same_state_store_one_and_refuse_the_other(
    store: Store,
) -> None:
    import threading

    from worker.db import DecisionConflict

    ident = judged(store)
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def decide(reviewer: str, decision: str) -> None:
        start.wait()
        try:
            outcomes[reviewer] = store.decide(ident, reviewer, decision, base_review=None)
        except DecisionConflict as exc:
            outcomes[reviewer] = exc

    threads = [threading.Thread(target=decide, args=("alice", "pass")),
               threading.Thread(target=decide, args=("bob", "reject"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    refused = [r for r, o in outcomes.items() if isinstance(o, DecisionConflict)]
    assert len(outcomes) == 2 and len(refused) == 1
    stored = store.reviews(ident)
    assert len(stored) == 1 and stored[0].reviewer != refused[0]
    conflict = outcomes[refused[0]]
    assert isinstance(conflict, DecisionConflict) and conflict.latest.id == stored[0].id
