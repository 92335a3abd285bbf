"""API keys: made, listed and revoked from the command line; only hashes stored."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from worker.cli import app
from worker.db import Store
from worker.db.keys import ApiKeys, hash_key

runner = CliRunner()


def test_keys_create_prints_the_key_once_and_stores_only_its_hash(sqlite_url: str) -> None:
    made = runner.invoke(app, ["keys", "create", "--role", "reviewer", "--name", "alice",
                               "--db", sqlite_url])
    assert made.exit_code == 0, made.output
    key = made.stdout.strip().splitlines()[-1]
    assert key.startswith("adr_") and len(key) > 40
    with Store.open(sqlite_url) as store:
        with store.engine.connect() as connection:
            stored = connection.execute(text("SELECT key_hash, prefix FROM api_keys")).all()
        assert stored == [(hash_key(key), key[:10])]
        found = ApiKeys(store).authenticate(key)
        assert found is not None and (found.name, found.role.value) == ("alice", "reviewer")
        assert ApiKeys(store).authenticate(key[:-1] + ("A" if key[-1] != "A" else "B")) is None


def test_keys_list_and_revoke(sqlite_url: str) -> None:
    for role in ("producer", "admin"):
        assert runner.invoke(app, ["keys", "create", "--role", role, "--db", sqlite_url]
                             ).exit_code == 0
    listed = runner.invoke(app, ["keys", "list", "--json", "--db", sqlite_url])
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [(r["role"], r["revoked"]) for r in rows] == [("producer", None), ("admin", None)]
    revoked = runner.invoke(app, ["keys", "revoke", str(rows[0]["id"]), "--db", sqlite_url])
    assert revoked.exit_code == 0 and "revoked key" in revoked.stdout
    again = [json.loads(line) for line in runner.invoke(
        app, ["keys", "list", "--json", "--db", sqlite_url]).stdout.splitlines()]
    assert again[0]["revoked"] is not None and again[1]["revoked"] is None


def test_an_unknown_role_is_refused(sqlite_url: str) -> None:
    result = runner.invoke(app, ["keys", "create", "--role", "root", "--db", sqlite_url])
    assert result.exit_code != 0 and "producer" in result.output


def test_serve_answers_on_127_0_0_1_by_default(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "ADREVIEW_DATABASE_URL": f"sqlite:///{tmp_path / 'api.db'}"}
    process = subprocess.Popen(
        [sys.executable, "-c", "from worker.cli import main; main()", "serve", "--port",
         str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.2)
        assert response.json() == {"status": "ok"}
        unauthorized = httpx.get(f"http://127.0.0.1:{port}/v1/verdicts", timeout=5)
        assert unauthorized.status_code == 401
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def declared_key() -> str:
    import secrets as token

    return "adr_" + token.token_urlsafe(32)


def test_migrate_makes_sure_of_the_keys_a_secrets_file_declares(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = database_url
    admin, reviewer = declared_key(), declared_key()
    declared = f"# the deployment's keys\nadmin ops {admin}\n\nreviewer carol {reviewer}\n"
    monkeypatch.setenv("ADREVIEW_API_KEYS", declared)
    runner = CliRunner()
    for added in ("2 added", "0 added"):  # a second run stores nothing twice
        result = runner.invoke(app, ["migrate", "--db", url])
        assert result.exit_code == 0, result.output
        assert f"API keys declared: 2 ({added})" in result.output
        assert admin not in result.output
    with Store.open(url) as store:
        keys = ApiKeys(store)
        found = keys.authenticate(reviewer)
        assert found is not None and (found.role.value, found.name) == ("reviewer", "carol")
        assert keys.authenticate(admin) is not None and len(keys.list()) == 2


@pytest.mark.parametrize(
    ("line", "message"),
    [("admin ops", "expected ROLE NAME KEY"), ("boss ops adr_" + "x" * 40, "'boss' is not a role"),
     ("admin ops hunter2", "is not an API key")],
)
def test_a_malformed_declared_key_stops_migrate_naming_the_line_and_never_the_key(
    sqlite_url: str, monkeypatch: pytest.MonkeyPatch, line: str, message: str
) -> None:
    monkeypatch.setenv("ADREVIEW_API_KEYS", f"reviewer carol {declared_key()}\n{line}\n")
    result = CliRunner().invoke(app, ["migrate", "--db", sqlite_url])
    assert result.exit_code == 2
    assert "line 2" in result.output and message in result.output
    assert "hunter2" not in result.output
    with Store.open(sqlite_url) as store:
        assert ApiKeys(store).list() == []  # nothing stored when any line is bad
