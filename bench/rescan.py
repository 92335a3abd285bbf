"""Rescan throughput: stored ads judged again per second, on SQLite and on PostgreSQL.

Builds a database of N (default 100,000) stored ads - submissions, OCR results of 3-6
lines each (about one ad in eight carries a banned claim, spread over lines and
separators) and a current verdict per ad made with an older rule set - straight through
multi-row SQL inserts - then times ``rescan`` with the shipped rules (every ad judged
again, one new verdict each), and a second rescan, which must find nothing left to do.
Every ad is its own image with its own OCR result, and random words and confidence
scores make nearly every stored text distinct, so the rescan's reuse of judgements for
identical OCR text gains nothing here (traffic where the same creative comes in many
times would do better).
The goal is at least 5,000 ads/s. PostgreSQL runs in a fresh schema (through the
connection's ``search_path``) that is dropped afterwards.

Run: ``.venv/bin/python bench/rescan.py [--ads N] [--jobs J] [--backend sqlite|postgresql]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from rules import load_ruleset  # noqa: E402
from worker.db import Store  # noqa: E402
from worker.db.bulk import record_verdicts_bulk  # noqa: E402
from worker.db.store import OCR_RESULTS, RULESETS, SUBMISSIONS  # noqa: E402
from worker.rescan import default_jobs, rescan  # noqa: E402
from worker.settings import SHIPPED_RULES_DIR  # noqa: E402

POSTGRES_URL = os.environ.get(
    "ADREVIEW_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
GOAL = 5000.0
INSERT_CHUNK = 5000

WORDS = ["限时特惠", "买二送一", "官方旗舰店", "扫码领券", "立减50元", "新品上市", "包邮到家",
         "品质保障", "七天无理由", "正品保证", "夏日清凉", "会员专享", "满199减30", "第一步",
         "最新款", "好评如潮", "点击购买", "欢迎选购", "今日下单", "次日达", "保温杯",
         "蓝牙耳机", "面霜", "运动鞋", "儿童书包", "空气炸锅", "智能手表"]
CLAIMS = ["全网第一", "全 网 第 一", "最·佳", "國家級", "１００％有效", "根治", "无副作用",
          "7天见效", "无效退款", "销量第一", "NO.1"]
BOX = [[0.0, 0.0], [300.0, 0.0], [300.0, 40.0], [0.0, 40.0]]


def ad_lines(rng: random.Random) -> list[dict[str, Any]]:
    """3-6 OCR lines; one ad in eight carries a claim."""
    count = rng.randint(3, 6)
    lines = [" ".join(rng.sample(WORDS, rng.randint(1, 3))) for _ in range(count)]
    if rng.random() < 0.125:
        at = rng.randrange(count)
        lines[at] = f"{lines[at]} {rng.choice(CLAIMS)}"
    return [{"text": line, "box": BOX, "score": round(rng.uniform(0.8, 1.0), 3)}
            for line in lines]


def rows(n: int, seed: int) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(submission, OCR result, verdict) rows of ``n`` ads."""
    rng = random.Random(seed)
    created = datetime.now(UTC) - timedelta(days=1)
    for i in range(n):
        sha = f"{i:064x}"
        ident = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        yield (
            {"id": ident, "ad_id": f"ad-{i}", "sha256": sha, "source": f"bench:{i}",
             "status": "done", "attempts": 1, "metadata": None, "created_at": created,
             "updated_at": created},
            {"sha256": sha, "engine": "rapidocr", "engine_version": "bench",
             "lines": ad_lines(rng), "width": 300, "height": 240, "seconds": 0.5,
             "created_at": created},
            {"submission_id": ident, "decision": "pass", "matches": [], "error_code": None,
             "error_message": None, "ruleset_version": "bench-old", "engine": "rapidocr",
             "engine_version": "bench", "sha256": sha, "timings": {}, "created_at": created,
             "judged_at": created},
        )


def fill(store: Store, n: int, seed: int = 0) -> float:
    """Insert ``n`` stored ads with multi-row inserts; returns the seconds it took."""
    started = time.perf_counter()
    with store.engine.begin() as connection:
        connection.execute(RULESETS.insert(), [{"version": "bench-old", "content": None,
                                                "created_at": datetime.now(UTC)}])
    batch: list[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]] = []

    def flush() -> None:
        with store.engine.begin() as connection:
            connection.execute(SUBMISSIONS.insert(), [b[0] for b in batch])
            connection.execute(OCR_RESULTS.insert(), [b[1] for b in batch])
        record_verdicts_bulk(store, [b[2] for b in batch], batch=INSERT_CHUNK)
        batch.clear()

    for row in rows(n, seed):
        batch.append(row)
        if len(batch) >= INSERT_CHUNK:
            flush()
    if batch:
        flush()
    return time.perf_counter() - started


def measure(url: str, backend: str, n: int, jobs: int) -> dict[str, Any]:
    """Fill a fresh database at ``url`` and time two rescans."""
    ruleset = load_ruleset(SHIPPED_RULES_DIR)
    with Store.open(url) as store:
        fill_s = fill(store, n)
        first = rescan(store, ruleset, rules_dir=SHIPPED_RULES_DIR, jobs=jobs)
        second = rescan(store, ruleset, rules_dir=SHIPPED_RULES_DIR, jobs=jobs)
    assert first.judged == n, first
    assert second.judged == 0, second
    return {
        "backend": backend, "ads": n, "jobs": jobs, "fill_s": round(fill_s, 2),
        "rescan_s": round(first.seconds, 2), "ads_per_s": round(first.rate),
        "changed": first.changed, "after": dict(first.after),
        "second_rescan_s": round(second.seconds, 2), "goal": GOAL,
        "ok": first.rate >= GOAL,
    }


def on_sqlite(n: int, jobs: int) -> dict[str, Any]:
    """The measurement on a fresh SQLite file."""
    with tempfile.TemporaryDirectory() as folder:
        return measure(f"sqlite:///{Path(folder) / 'bench.db'}", "sqlite", n, jobs)


def on_postgresql(n: int, jobs: int) -> dict[str, Any]:
    """The measurement in a fresh PostgreSQL schema, dropped afterwards."""
    admin = create_engine(POSTGRES_URL)
    schema = f"adreview_bench_{uuid.uuid4().hex[:12]}"
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        url = make_url(POSTGRES_URL).update_query_dict({"options": f"-csearch_path={schema}"})
        return measure(url.render_as_string(hide_password=False), "postgresql", n, jobs)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def main() -> int:
    """Run the benchmark; exit 1 when a backend misses the goal."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ads", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=default_jobs())
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--json", action="store_true", help="One JSON line per backend.")
    args = parser.parse_args()
    runs = {"sqlite": on_sqlite, "postgresql": on_postgresql}
    chosen = list(runs) if args.backend == "both" else [args.backend]
    ok = True
    for name in chosen:
        result = runs[name](args.ads, args.jobs)
        ok = ok and result["ok"]
        if args.json:
            print(json.dumps(result, ensure_ascii=False))
        else:
            print(f"{name:10s} {result['ads']} ads, {result['jobs']} judging processes: "
                  f"rescan {result['rescan_s']} s = {result['ads_per_s']} ads/s "
                  f"(goal {GOAL:.0f}; {'ok' if result['ok'] else 'MISSED'}), "
                  f"{result['changed']} decisions changed; second rescan "
                  f"{result['second_rescan_s']} s; fill {result['fill_s']} s", flush=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
