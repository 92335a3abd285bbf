"""How the HTTP API behaves under strain and in operation: answers that say where to look
and when to come back (``Location``, ``Retry-After``), a busy pool answered 503 in JSON,
unexpected errors in JSON without details, one connection pool per process, keepalives
on PostgreSQL connections, readiness without driver text, rule tests off the event
loop, and ``/metrics`` counting every worker process of ``adreview serve --workers 2``."""

from __future__ import annotations

import base64
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi.testclient import TestClient

from tests.worker.conftest import serving
from tests.worker.test_api import (  # the API fixtures and helpers
    REDIS_URL,
    auth,
    broker,
    client,
    error_of,
    keys,
    png,
    settings,
    store,
)
from worker.api import create_app
from worker.api.schemas import RULE_TEST_MAX_CHARS
from worker.api.state import ApiState
from worker.db import DatabaseBusy, Store
from worker.settings import Settings

# Fixtures, used by name below.
__all__ = ["broker", "client", "keys", "settings", "store"]

IMAGE = base64.b64encode(png()).decode()
ROOT = Path(__file__).resolve().parents[2]


def test_an_accepted_submission_says_where_it_is(
    client: TestClient, keys: dict[str, str]
) -> None:
    answer = client.post("/v1/submissions", headers=auth(keys["producer"]),
                         json={"image": IMAGE})
    assert answer.status_code == 202
    assert answer.headers["location"] == f"/v1/submissions/{answer.json()['id']}"
    found = client.get(answer.headers["location"], headers=auth(keys["producer"]))
    assert found.status_code == 200


def test_a_broker_outage_says_where_the_stored_submission_is_and_when_to_retry(
    settings: Settings, store: Store, keys: dict[str, str]
) -> None:
    down = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    with TestClient(create_app(down, cors_origins=[])) as client:
        answer = client.post("/v1/submissions", headers=auth(keys["producer"]),
                             json={"image": IMAGE})
        ready = client.get("/ready")
    assert answer.status_code == 503 and error_of(answer)["code"] == "broker_unavailable"
    assert answer.headers["location"] == f"/v1/submissions/{answer.json()['id']}"
    assert int(answer.headers["retry-after"]) > 0
    assert ready.status_code == 503 and int(ready.headers["retry-after"]) > 0
    assert ready.json()["checks"]["redis"] == {"ok": False, "error": "ConnectionError"}
    assert "127.0.0.1:1" not in ready.text and "refused" not in ready.text.lower()


def test_when_the_database_is_unreachable_then_ready_names_only_the_kind_of_error(
    settings: Settings, tmp_path: Path
) -> None:
    gone = settings.model_copy(update={
        "database_url": "postgresql://nobody:secret@127.0.0.1:1/none"})
    with TestClient(create_app(gone, cors_origins=[])) as client:
        ready = client.get("/ready")
        listed = client.get("/v1/verdicts", headers=auth("adr_" + "x" * 43))
    assert ready.status_code == 503
    assert ready.json()["checks"]["database"]["ok"] is False
    for answer in (ready, listed):
        assert "secret" not in answer.text and "127.0.0.1" not in answer.text
        assert "nobody" not in answer.text
    assert listed.status_code == 503 and error_of(listed)["code"] == "database_unavailable"
    assert int(listed.headers["retry-after"]) > 0


def test_a_pool_with_no_free_connection_answers_503_json_with_retry_after(
    settings: Settings, store: Store, keys: dict[str, str]
) -> None:
    tight = settings.model_copy(update={"api_db_pool_size": 1, "api_db_max_overflow": 0,
                                        "api_db_wait": 0.3})
    with TestClient(create_app(tight, cors_origins=[])) as client:
        state: ApiState = client.app.state.api  # type: ignore[attr-defined]
        assert client.get("/v1/verdicts", headers=auth(keys["reviewer"])).status_code == 200
        with state.store().engine.connect():  # the only connection, held elsewhere
            busy = client.get("/v1/verdicts", headers=auth(keys["reviewer"]),
                              params={"category": "absolute"})
        assert busy.status_code == 503 and error_of(busy)["code"] == "database_busy"
        assert busy.headers["content-type"] == "application/json"
        assert busy.headers["retry-after"] == "1"
        assert store.url not in busy.text
        assert client.get("/v1/verdicts", headers=auth(keys["reviewer"])).status_code == 200


def test_calls_beyond_the_pool_wait_for_a_slot_and_give_up_after_the_wait(
    settings: Settings,
) -> None:
    state = ApiState(settings.model_copy(update={"api_db_pool_size": 1,
                                                 "api_db_max_overflow": 0,
                                                 "api_db_wait": 0.2}))
    outcomes: list[str] = []

    async def main() -> None:
        async def call(seconds: float) -> None:
            try:
                await state.run_db(time.sleep, seconds)
                outcomes.append(f"ran {seconds}")
            except DatabaseBusy:
                outcomes.append("busy")

        async with anyio.create_task_group() as group:
            group.start_soon(call, 0.6)
            await anyio.sleep(0.05)
            group.start_soon(call, 0.0)  # waits 0.2 s for the slot, gives up
        await call(0.0)  # the slot is free again

    anyio.run(main)
    assert outcomes == ["busy", "ran 0.6", "ran 0.0"]


def test_an_unexpected_error_is_500_json_without_details(
    settings: Settings, store: Store, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def explode(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("internal detail /srv/secret.py line 3")

    monkeypatch.setattr("worker.api.routes.verdicts.list_verdicts", explode)
    with TestClient(create_app(settings, cors_origins=[]),
                    raise_server_exceptions=False) as client:
        answer = client.get("/v1/verdicts", headers=auth(keys["reviewer"]))
    assert answer.status_code == 500 and answer.headers["content-type"] == "application/json"
    assert error_of(answer)["code"] == "internal" and "secret" not in answer.text


def test_submissions_reuse_the_processs_pool(
    client: TestClient, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert client.get("/v1/verdicts", headers=auth(keys["reviewer"])).status_code == 200
    opened: list[str] = []
    real_open = Store.open

    def counting_open(url: Any, **kwargs: Any) -> Store:
        opened.append(str(url))
        return real_open(url, **kwargs)

    monkeypatch.setattr(Store, "open", staticmethod(counting_open))
    for _ in range(3):
        answer = client.post("/v1/submissions", headers=auth(keys["producer"]),
                             json={"image": IMAGE})
        assert answer.status_code == 202
    assert opened == []


def test_postgresql_connections_probe_a_vanished_peer(postgresql_url: str) -> None:
    state = ApiState(Settings(database_url=postgresql_url))
    try:
        with state.store().engine.connect() as connection:
            raw = connection.connection.dbapi_connection
            assert raw is not None
            parameters = raw.info.get_parameters()  # type: ignore[attr-defined]
        assert parameters["keepalives"] == "1"
        assert int(parameters["keepalives_idle"]) <= 60
        assert int(parameters["tcp_user_timeout"]) > 0
        assert state.store().engine.pool._recycle > 0  # type: ignore[attr-defined]
    finally:
        state.close()


# -- the event loop -------------------------------------------------------------------


@pytest.fixture
def server(settings: Settings, store: Store) -> Iterator[str]:
    """uvicorn on a free port in a thread, serving the test's app."""
    with serving(create_app(settings, cors_origins=[])) as url:
        yield url


def test_a_long_rule_test_leaves_health_answering(
    server: str, keys: dict[str, str]
) -> None:
    claims = ("全网第一最好根治" * (RULE_TEST_MAX_CHARS // 8 + 1))[:RULE_TEST_MAX_CHARS]
    headers = auth(keys["rule-editor"])
    with httpx.Client(base_url=server, timeout=120) as warm:
        assert warm.post("/v1/rules/test", headers=headers,
                         json={"text": "全网第一"}).status_code == 200  # rules loaded
        too_long = warm.post("/v1/rules/test", headers=headers, json={"text": claims + "x"})
        assert too_long.status_code == 422
    result: dict[str, Any] = {}

    def judge() -> None:
        started = time.perf_counter()
        with httpx.Client(base_url=server, timeout=120) as http:
            answer = http.post("/v1/rules/test", headers=headers, json={"text": claims})
        result["status"], result["seconds"] = answer.status_code, time.perf_counter() - started
        result["matches"] = len(answer.json()["matches"])

    thread = threading.Thread(target=judge)
    thread.start()
    waits = []
    with httpx.Client(base_url=server, timeout=30) as http:
        while thread.is_alive():
            started = time.perf_counter()
            assert http.get("/health").status_code == 200
            waits.append(time.perf_counter() - started)
            time.sleep(0.05)
    thread.join()
    assert result["status"] == 200 and result["matches"] > 1000
    print(f"rule test of {len(claims):,} characters: {result['seconds']:.2f} s; /health "
          f"answered {len(waits)} times meanwhile, slowest {max(waits, default=0):.3f} s")
    # /health was asked while the rule test ran (unless judging took less time than asking)
    assert waits or result["seconds"] < 0.5, "the rule test was over before /health was asked"
    assert max(waits, default=0.0) < 1.0


# -- several processes ----------------------------------------------------------------


def _counter(text: str, route: str) -> float:
    pattern = re.compile(r'^adreview_api_requests_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$',
                         re.MULTILINE)
    return sum(float(m["value"]) for m in pattern.finditer(text)
               if f'route="{route}"' in m["labels"] and 'status="200"' in m["labels"])


@pytest.mark.slow
def test_metrics_count_every_worker_process_of_serve(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(ADREVIEW_DATABASE_URL=f"sqlite:///{tmp_path / 'api.db'}",
               ADREVIEW_REDIS_URL=REDIS_URL)
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-c", "from worker.cli import main; main()", "serve", "--port",
             str(port), "--workers", "2"], env=env, cwd=ROOT,
            stdout=output, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/ready", timeout=2)
                break
            except httpx.TransportError:
                assert process.poll() is None, log.read_text(errors="replace")
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.3)
        time.sleep(2)  # the second worker process
        for _ in range(30):  # a new connection each: the processes share them out
            assert httpx.get(f"{base}/health", timeout=5).status_code == 200
        seen = {_counter(httpx.get(f"{base}/metrics", timeout=5).text, "/health")
                for _ in range(8)}
    finally:
        process.terminate()
        process.wait(30)
    assert seen == {30.0}
