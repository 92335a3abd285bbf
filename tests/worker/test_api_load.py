"""Dashboard reads under load: 50 concurrent filtered reads of 100,000 verdicts on
PostgreSQL through a real uvicorn server, none answered with a server error; the p99
latency is printed. The filters run in SQL (the category and rule filters on the GIN
index of the evidence), so each read is one indexed query, and the reads beyond the
connection pool wait for a connection instead of failing."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import text

from tests.worker.conftest import serving
from tests.worker.test_api import REDIS_URL
from worker.api import create_app
from worker.db import Store
from worker.db.keys import ApiKeys
from worker.db.models import ApiRole
from worker.settings import Settings

VERDICTS = 100_000
CONCURRENT = 50

#: Submissions and current verdicts written by the database itself: a third pass, a third
#: reject, a third review; 13 categories and 97 rules in the evidence; one per second.
SEED = [
    "INSERT INTO rulesets (version, content, created_at) VALUES ('rules-v1', NULL, now())",
    """INSERT INTO submissions (id, ad_id, sha256, source, status, attempts, metadata,
                                created_at, updated_at)
       SELECT 'sub-' || g, 'ad-' || (g % 1000), NULL, 'inline', 'done', 1,
              '{"shop": "s-1"}'::jsonb, now(), now()
       FROM generate_series(1, :n) g""",
    """INSERT INTO verdicts (submission_id, decision, matches, error_code, error_message,
                             ruleset_version, engine, engine_version, sha256, timings,
                             created_at, judged_at)
       SELECT 'sub-' || g,
         CASE g % 3 WHEN 0 THEN 'pass' WHEN 1 THEN 'reject' ELSE 'review' END,
         CASE WHEN g % 3 = 0 THEN '[]'::jsonb ELSE jsonb_build_array(jsonb_build_object(
           'rule', 'rule.' || (g % 97), 'category', 'cat' || (g % 13),
           'severity', CASE g % 3 WHEN 1 THEN 'reject' ELSE 'review' END,
           'phrase', '全网第一', 'text', '全网第一',
           'box', '[[1, 1], [2, 1], [2, 2], [1, 2]]'::jsonb, 'line', '全网第一',
           'score', 0.9, 'uncertain', false)) END,
         NULL, NULL, 'rules-v1', 'fake', 'fake-1', NULL, '{}'::jsonb,
         now() - ((:n - g) || ' seconds')::interval, now() - ((:n - g) || ' seconds')::interval
       FROM generate_series(1, :n) g""",
    "ANALYZE",
]


@pytest.fixture
def loaded(postgresql_url: str) -> Iterator[tuple[str, str]]:
    """A PostgreSQL schema with ``VERDICTS`` current verdicts; (URL, a reviewer key)."""
    with Store.open(postgresql_url) as store:
        with store.engine.begin() as connection:
            for statement in SEED:
                connection.execute(text(statement), {"n": VERDICTS})
        key = ApiKeys(store).create(ApiRole.REVIEWER, "dashboard")[1]
    yield postgresql_url, key


@pytest.fixture
def server(loaded: tuple[str, str]) -> Iterator[str]:
    """uvicorn on a free port in a thread, serving the loaded database."""
    settings = Settings(database_url=loaded[0], redis_url=REDIS_URL)
    with serving(create_app(settings, cors_origins=[])) as url:
        yield url


def _read(i: int) -> tuple[str, list[tuple[str, str]]]:
    """The ``i``-th dashboard read: filters of every kind, some matching nothing."""
    reads: list[tuple[str, list[tuple[str, str]]]] = [
        ("/v1/verdicts", [("category", f"cat{i % 13}")]),
        ("/v1/verdicts", [("rule", f"rule.{i % 97}")]),
        ("/v1/verdicts", [("category", "no-such-category")]),
        ("/v1/verdicts", [("decision", "review"), ("decision", "reject"),
                          ("category", f"cat{i % 13}"), ("since", "2h")]),
        ("/v1/verdicts", [("rule", "rule.1"), ("rule", "rule.2"), ("ad_id", f"ad-{i}")]),
        ("/v1/stats", [("category", f"cat{i % 13}")]),
        ("/v1/stats", []),
    ]
    return reads[i % len(reads)]


@pytest.mark.slow
def test_fifty_concurrent_filtered_reads_of_100k_verdicts_are_answered(
    server: str, loaded: tuple[str, str]
) -> None:
    headers = {"Authorization": f"Bearer {loaded[1]}"}

    async def run() -> list[tuple[int, float, str]]:
        async with httpx.AsyncClient(base_url=server, headers=headers, timeout=120) as http:
            warm = await http.get("/v1/verdicts", params={"category": "cat1"})
            assert warm.status_code == 200, warm.text

            async def one(i: int) -> tuple[int, float, str]:
                path, params = _read(i)
                started = time.perf_counter()
                answer = await http.get(path, params=params)
                return (answer.status_code, time.perf_counter() - started,
                        answer.headers.get("content-type", ""))

            return await asyncio.gather(*(one(i) for i in range(CONCURRENT)))

    started = time.perf_counter()
    results = asyncio.run(run())
    wall = time.perf_counter() - started
    latencies = sorted(seconds for _, seconds, _ in results)
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))]
    print(f"\n{CONCURRENT} concurrent filtered reads of {VERDICTS:,} verdicts (PostgreSQL): "
          f"statuses {sorted({s for s, _, _ in results})}, p50 "
          f"{statistics.median(latencies):.3f} s, p99 {p99:.3f} s, max {latencies[-1]:.3f} s, "
          f"all in {wall:.2f} s")
    assert [s for s, _, _ in results if s >= 500] == []
    assert {s for s, _, _ in results} == {200}
    assert all(kind == "application/json" for _, _, kind in results)
    assert p99 < 30


@pytest.mark.slow
def test_filtered_pages_of_100k_verdicts_are_right(
    server: str, loaded: tuple[str, str]
) -> None:
    headers = {"Authorization": f"Bearer {loaded[1]}"}
    with httpx.Client(base_url=server, headers=headers, timeout=60) as http:
        page = http.get("/v1/verdicts", params={"category": "cat5", "limit": "20"}).json()
        assert len(page["items"]) == 20 and page["next_cursor"]
        assert all(any(m["category"] == "cat5" for m in item["matches"])
                   for item in page["items"])
        ids = [item["verdict_id"] for item in page["items"]]
        assert ids == sorted(ids, reverse=True)
        stats = http.get("/v1/stats").json()
        assert stats["total"] == VERDICTS
        assert stats["by_decision"]["pass"] == VERDICTS // 3
        assert sum(stats["by_category"].values()) == VERDICTS - VERDICTS // 3
        nothing = http.get("/v1/verdicts", params={"category": "no-such-category"}).json()
        assert nothing == {"items": [], "next_cursor": None}
