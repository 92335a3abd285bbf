"""Dashboard filters of the HTTP API, in SQL on SQLite and PostgreSQL: repeated values are
alternatives, ``since``/``until`` take an ISO time or an age as the command line does,
the evidence filters keep exactly what the Python definition keeps, and the counts
honour the same filters. Real app, real databases, real Redis."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from rules.schema import Decision, Severity
from tests.worker.test_api import (  # the API fixtures and helpers
    add_judged,
    auth,
    broker,
    client,
    error_of,
    evidence,
    keys,
    settings,
    store,
)
from worker.api.queries import VerdictFilter, list_verdicts, verdict_stats
from worker.db import Store
from worker.times import parse_time_or_age
from worker.verdict import Verdict

# Fixtures, used by name below.
__all__ = ["broker", "client", "keys", "settings", "store"]


def _ids(client: TestClient, key: str, params: list[tuple[str, str]]) -> list[str]:
    answer = client.get("/v1/verdicts", headers=auth(key), params=params)
    assert answer.status_code == 200, answer.text
    return [item["submission"] for item in answer.json()["items"]]


def test_repeated_filter_values_are_alternatives_and_filters_combine(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    rejected = add_judged(store, ad_id="ad-1")
    review = add_judged(store, Decision.REVIEW, matches=(evidence(
        "absolute.preferred", "absolute", Severity.REVIEW),), ad_id="ad-2")
    medical = add_judged(store, matches=(evidence("medical.cure", "medical"),), ad_id="ad-3")
    passed = add_judged(store, Decision.PASS, ad_id="ad-1")
    key = keys["reviewer"]
    assert _ids(client, key, [("decision", "review"), ("decision", "reject")]) == [
        medical, review, rejected]
    assert _ids(client, key, [("decision", "pass"), ("decision", "review")]) == [
        passed, review]
    assert _ids(client, key, [("category", "medical"), ("category", "absolute")]) == [
        medical, review, rejected]
    assert _ids(client, key, [("rule", "medical.cure"), ("rule", "absolute.first")]) == [
        medical, rejected]
    assert _ids(client, key, [("ad_id", "ad-1"), ("ad_id", "ad-3")]) == [
        passed, medical, rejected]
    assert _ids(client, key, [("category", "absolute"), ("decision", "reject")]) == [rejected]
    assert _ids(client, key, [("ad_id", "ad-1"), ("decision", "pass")]) == [passed]
    stats = client.get("/v1/stats", headers=auth(key),
                       params=[("category", "absolute"), ("decision", "review")]).json()
    assert stats["total"] == 1 and stats["by_decision"]["review"] == 1
    assert stats["by_category"] == {"absolute": 1}


def test_since_and_until_take_iso_times_and_ages_like_the_command_line(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    recent = add_judged(store, created=now - timedelta(minutes=30))
    yesterday = add_judged(store, created=now - timedelta(hours=26))
    old = add_judged(store, created=now - timedelta(days=9))
    key = keys["reviewer"]
    assert _ids(client, key, [("since", "2h")]) == [recent]
    assert _ids(client, key, [("since", "2H")]) == [recent]
    assert _ids(client, key, [("since", "90m")]) == [recent]
    assert _ids(client, key, [("since", "2d")]) == [yesterday, recent]
    assert _ids(client, key, [("since", "1w"), ("until", "1d")]) == [yesterday]
    assert _ids(client, key, [("until", "8d")]) == [old]
    iso = (now - timedelta(hours=2)).isoformat()
    assert _ids(client, key, [("since", iso)]) == [recent]
    naive = (now - timedelta(hours=2)).replace(tzinfo=None).isoformat(timespec="minutes")
    assert _ids(client, key, [("since", naive)]) == [recent]  # no zone: UTC
    assert client.get("/v1/stats", headers=auth(key), params={"since": "2d"}).json()[
        "total"] == 2
    for bad in ("2 hours", "h", "2y", "yesterday", "-2h"):
        answer = client.get("/v1/verdicts", headers=auth(key), params={"since": bad})
        assert answer.status_code == 422, bad
        assert "since" in error_of(answer)["message"]


def test_the_api_and_the_command_line_read_times_alike() -> None:
    from worker.cli import parse_since

    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    for given in ("2h", "90m", "3d", "1w", "45s", "2026-11-24T08:00", "2026-11-24T08:00+08:00"):
        assert parse_time_or_age(given, now) == parse_since(given, now), given


def test_the_evidence_filters_keep_what_the_definition_keeps(store: Store) -> None:
    pick = random.Random(7)
    rules = [("absolute.first", "absolute"), ("absolute.best", "absolute"),
             ("medical.cure", "medical"), ("guarantee.refund", "guarantee")]
    for _ in range(60):
        chosen = pick.sample(rules, pick.randint(0, 3))
        decision = Decision.REJECT if chosen else Decision.PASS
        add_judged(store, decision, matches=tuple(evidence(r, c) for r, c in chosen))
    # Some submissions judged again by a newer rule set: only the current verdict counts.
    for item in list_verdicts(store, VerdictFilter(), 15)[0]:
        store.record_verdict(item.submission, Verdict(
            Decision.PASS, (), "rules-v2", "fake", "fake-1", None,
            created=datetime.now(UTC) + timedelta(seconds=1)))
    every, _ = list_verdicts(store, VerdictFilter(), 500)
    assert len(every) == 60
    cases = [VerdictFilter(category="absolute"), VerdictFilter(rule="medical.cure"),
             VerdictFilter(categories=("medical", "guarantee")),
             VerdictFilter(category="absolute", rules=("guarantee.refund", "medical.cure")),
             VerdictFilter(categories=("nothing",))]
    for where in cases:
        expected = [v.id for v in every if where.keeps(v)]
        found: list[int] = []
        before = None
        while True:  # in pages of 7
            page, before = list_verdicts(store, where, 7, before)
            found += [v.id for v in page]
            if before is None:
                break
        assert found == expected, where
        stats = verdict_stats(store, where)
        assert stats["total"] == len(expected), where
        kept = [v for v in every if where.keeps(v)]
        categories = sorted({m.category for v in kept for m in v.verdict.matches})
        assert stats["by_category"] == {
            c: sum(1 for v in kept if c in {m.category for m in v.verdict.matches})
            for c in categories}
