"""A process whose rule folder does not load refuses work visibly, with real processes:
a worker started on it exits with ``EX_CONFIG`` before it takes a message; a pool process
that starts after the folder broke (and so has no last good rule set) ends each
submission at once as one ``rules_unusable`` error verdict; the API answers 503
``rules_unusable``, never 500."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from tests.conftest import SMALL_RULES, RuleDir
from tests.worker.processes import served_api
from tests.worker.test_queue import (
    StartWorker,
    _ads,
    broker,  # noqa: F401 - fixture
    children,
    settings,  # noqa: F401 - fixture
    start_worker,  # noqa: F401 - fixture
    wait_for,
)
from worker.client import submit
from worker.db import Store
from worker.db.keys import ApiKeys
from worker.settings import Settings
from worker.startup import EXIT_CONFIG

BROKEN = "rules:\n  - id: a.b\n    phrases: [unclosed\n"


@pytest.mark.slow
def test_a_worker_started_on_a_broken_rule_folder_exits_before_taking_a_message(
    settings: Settings, start_worker: StartWorker, broker: redis.Redis,  # noqa: F811
    rule_dir: RuleDir, tmp_path: Path,
) -> None:
    folder = rule_dir({"bad.yaml": BROKEN})
    (ad,) = _ads(1)
    submission = submit(ad, settings=settings)
    assert broker.llen(settings.queue) == 1
    proc = start_worker(1, ADREVIEW_RULES_DIR=str(folder))
    assert proc.wait(60) == EXIT_CONFIG
    log = (tmp_path / "worker-0.log").read_text(errors="replace")
    assert "worker not started: the rule set in" in log, log[-3000:]
    assert f"{folder / 'bad.yaml'}:" in log
    assert broker.llen(settings.queue) == 1, "the message was taken"
    with Store.open(settings.database_url) as store:
        assert store.current_verdict(submission) is None


@pytest.mark.slow
def test_a_pool_process_without_a_last_good_rule_set_stores_a_rules_unusable_verdict_at_once(
    settings: Settings, start_worker: StartWorker, rule_dir: RuleDir,  # noqa: F811
) -> None:
    folder = rule_dir({"r.yaml": SMALL_RULES})
    proc = start_worker(1, ADREVIEW_RULES_DIR=str(folder))
    wait_for(lambda: len(children(proc.pid)) == 1, 60, "the pool process")
    (child,) = children(proc.pid)
    time.sleep(3)  # the pool process has loaded the good rules
    (folder / "r.yaml").write_text(BROKEN, encoding="utf-8")
    os.kill(child, signal.SIGKILL)  # its replacement starts on the broken folder
    wait_for(lambda: children(proc.pid) not in ([], [child]), 60, "a new pool process")
    ads = _ads(2)
    started = time.monotonic()
    ids = [submit(ad, settings=settings) for ad in ads]
    with Store.open(settings.database_url) as store:
        wait_for(lambda: all(store.current_verdict(i) is not None for i in ids), 10,
                 "the error verdicts")
        took = time.monotonic() - started
        for submission in ids:
            current = store.current_verdict(submission)
            assert current is not None
            assert current.verdict.error is not None
            assert current.verdict.error.code == "rules_unusable"
            assert "r.yaml:4: invalid YAML" in current.verdict.error.message
            assert store.get_submission(submission).status == "error"  # type: ignore[union-attr]
    assert took < 10
    assert proc.poll() is None


@pytest.fixture
def broken_api(tmp_path: Path, rule_dir: RuleDir) -> Iterator[tuple[str, str]]:
    folder = rule_dir({"bad.yaml": BROKEN})
    url = f"sqlite:///{tmp_path / 'api.db'}"
    with Store.open(url) as store:
        _, key = ApiKeys(store).create("admin", "ops")
    with served_api(tmp_path, {"ADREVIEW_DATABASE_URL": url, "ADREVIEW_RULES_DIR": str(folder),
                               "ADREVIEW_REDIS_URL": "redis://127.0.0.1:1/0"}) as served:
        yield served.base, key


@pytest.mark.slow
def test_an_api_started_on_a_broken_rule_folder_answers_503_rules_unusable(
    broken_api: tuple[str, str],
) -> None:
    base, key = broken_api
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        answers = [
            http.get("/v1/rules"),
            http.post("/v1/rules/test", json={"text": "全网第一"}),
            http.post("/v1/submissions", json={"image": "aGVsbG8=", "industry": "medical"}),
        ]
    for answer in answers:
        assert answer.status_code == 503, answer.text
        assert answer.headers["Retry-After"] == "30"
        assert answer.json()["error"]["code"] == "rules_unusable"

