"""Reviewer decisions take effect: the effective decision (the latest reviewer decision,
else the machine's) and ``reviewed`` in verdicts, submissions, filters, counts, the
command line and a signed ``review`` callback, on SQLite and PostgreSQL. The machine
verdict is never changed."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rules.schema import Decision, Severity
from tests.worker.test_api import (  # the API fixtures and helpers
    add_judged,
    auth,
    broker,
    evidence,
    keys,
    settings,
    store,
)
from tests.worker.test_api_webhooks import Receiver, receiver_factory
from worker.api import create_app
from worker.api.webhooks import verify_signature
from worker.callbacks import deliver_due
from worker.db import Store
from worker.settings import Settings

# Fixtures, used by name below.
__all__ = ["broker", "keys", "receiver_factory", "settings", "store"]

SECRET = "review-callback-secret-for-tests"  # noqa: S105 - a test fixture


@pytest.fixture
def hooked(settings: Settings) -> Settings:
    """The test's settings with a webhook secret and local callbacks allowed."""
    return settings.model_copy(update={"webhook_secret": SECRET, "allow_private_urls": True})


@pytest.fixture
def client(hooked: Settings, store: Store) -> Iterator[TestClient]:
    with TestClient(create_app(hooked, cors_origins=[])) as made:
        yield made


def _decide(client: TestClient, key: str, ident: str, action: str,
            decision: str | None = None, note: str | None = None) -> None:
    body = {"action": action, "decision": decision, "note": note}
    answer = client.post(f"/v1/submissions/{ident}/decisions", headers=auth(key), json=body)
    assert answer.status_code == 201, answer.text


def _items(client: TestClient, key: str, params: list[tuple[str, str]]) -> list[dict[str, object]]:
    answer = client.get("/v1/verdicts", headers=auth(key), params=params)
    assert answer.status_code == 200, answer.text
    return list(answer.json()["items"])


def test_the_latest_reviewer_decision_is_the_effective_one_and_the_machine_verdict_stays(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    key = keys["reviewer"]
    rejected = add_judged(store, ad_id="ad-1")
    review = add_judged(store, Decision.REVIEW, matches=(evidence(
        "absolute.preferred", "absolute", Severity.REVIEW),), ad_id="ad-2")
    untouched = add_judged(store, ad_id="ad-3")
    _decide(client, key, rejected, "override", "pass", "a usage step")
    _decide(client, key, review, "override", "pass")
    _decide(client, key, review, "override", "reject", "second look")
    by_id = {i["submission"]: i for i in _items(client, key, [])}
    assert by_id[rejected]["decision"] == "reject"
    assert by_id[rejected]["effective_decision"] == "pass"
    assert by_id[rejected]["reviewed"] is True
    assert by_id[rejected]["review"]["note"] == "a usage step"  # type: ignore[index]
    assert by_id[review]["decision"] == "review"
    assert by_id[review]["effective_decision"] == "reject"  # the latest of two
    assert by_id[untouched]["effective_decision"] == "reject"
    assert by_id[untouched]["reviewed"] is False and by_id[untouched]["review"] is None
    shown = client.get(f"/v1/submissions/{rejected}", headers=auth(key)).json()
    assert shown["verdict"]["decision"] == "reject"
    assert shown["verdict"]["effective_decision"] == "pass"
    assert shown["verdict"]["reviewed"] is True and len(shown["reviews"]) == 1
    # History is kept: both decisions of the second item, the machine verdict unchanged.
    assert [r.decision for r in store.reviews(review)] == [Decision.PASS, Decision.REJECT]
    current = store.current_verdict(review)
    assert current is not None and current.decision is Decision.REVIEW


def test_reviewed_and_effective_decision_filter_in_sql_and_combine(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    key = keys["reviewer"]
    a = add_judged(store, ad_id="ad-1")
    b = add_judged(store, ad_id="ad-2")
    c = add_judged(store, Decision.PASS, ad_id="ad-3")
    _decide(client, key, a, "override", "pass")
    _decide(client, key, c, "confirm")

    def ids(params: list[tuple[str, str]]) -> list[object]:
        return [i["submission"] for i in _items(client, key, params)]

    assert ids([("reviewed", "false")]) == [b]
    assert ids([("reviewed", "true")]) == [c, a]
    assert ids([("effective_decision", "pass")]) == [c, a]
    assert ids([("effective_decision", "reject")]) == [b]
    assert ids([("decision", "reject"), ("effective_decision", "pass")]) == [a]
    assert ids([("decision", "reject"), ("reviewed", "false")]) == [b]
    assert ids([("effective_decision", "pass"), ("effective_decision", "reject")]) == [c, b, a]
    bad = client.get("/v1/verdicts", headers=auth(key), params={"effective_decision": "maybe"})
    assert bad.status_code == 422


def test_stats_count_machine_and_effective_decisions_and_the_reviewed_share(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    key = keys["reviewer"]
    a = add_judged(store)
    add_judged(store)
    add_judged(store, Decision.PASS)
    d = add_judged(store, Decision.REVIEW, matches=(evidence(
        "absolute.preferred", "absolute", Severity.REVIEW),))
    _decide(client, key, a, "override", "pass")
    _decide(client, key, d, "override", "reject")
    stats = client.get("/v1/stats", headers=auth(key)).json()
    assert stats["total"] == 4
    assert stats["by_decision"] == {"pass": 1, "review": 1, "reject": 2, "error": 0}
    assert stats["by_effective_decision"] == {"pass": 2, "review": 0, "reject": 2, "error": 0}
    assert stats["reviewed"] == 2 and stats["reviewed_share"] == 0.5
    only = client.get("/v1/stats", headers=auth(key), params={"reviewed": "false"}).json()
    assert only["total"] == 2 and only["reviewed"] == 0


def test_a_decision_that_changes_the_effective_decision_is_called_back_signed(
    client: TestClient, store: Store, keys: dict[str, str], receiver_factory: type[Receiver],
    hooked: Settings,
) -> None:
    receiver = receiver_factory([])
    key = keys["reviewer"]
    ident = add_judged(store, ad_id="ad-hook")
    sub = store.get_submission(ident)
    assert sub is not None
    with store.engine.begin() as connection:  # the callback URL a producer would have given
        from worker.db.models import Submission

        connection.execute(Submission.__table__.update().where(  # type: ignore[attr-defined]
            Submission.__table__.c.id == ident).values(  # type: ignore[attr-defined]
            metadata={**(sub.metadata or {}), "callback_url": receiver.url}))
    _decide(client, key, ident, "confirm")  # reject stays reject: no callback
    _decide(client, key, ident, "override", "pass", "not a claim")
    assert receiver.count() == 0  # written to the outbox; the workers deliver it
    assert deliver_due(store, hooked) == 1
    assert deliver_due(store, hooked) == 0  # delivered once
    assert receiver.count() == 1
    headers, body, _status = receiver.requests[0]
    assert verify_signature(body, headers, SECRET)
    payload = json.loads(body)
    assert payload["event"] == "review" and payload["submission"] == ident
    assert payload["effective_decision"] == "pass"
    assert payload["verdict"]["decision"] == "reject"
    assert payload["review"]["note"] == "not a claim"
    assert payload["sequence"] == 1


def test_the_verdicts_command_shows_and_filters_effective_decisions(
    hooked: Settings, store: Store, keys: dict[str, str]
) -> None:
    from worker.cli import app

    a = add_judged(store, ad_id="ad-1")
    b = add_judged(store, ad_id="ad-2")
    store.add_review(a, "alice", "override", "pass", "usage step")
    runner = CliRunner()
    db = ["--db", hooked.database_url]
    out = runner.invoke(app, ["verdicts", "--json", *db])
    assert out.exit_code == 0, out.output
    rows = {r["submission"]: r for r in map(json.loads, out.stdout.splitlines())}
    assert rows[a]["effective_decision"] == "pass" and rows[a]["reviewed"] is True
    assert rows[b]["effective_decision"] == "reject" and rows[b]["reviewed"] is False
    out = runner.invoke(app, ["verdicts", "--json", "--unreviewed", *db])
    assert [json.loads(line)["submission"] for line in out.stdout.splitlines()] == [b]
    out = runner.invoke(app, ["verdicts", "--json", "--effective-decision", "pass", *db])
    assert [json.loads(line)["submission"] for line in out.stdout.splitlines()] == [a]
    table = runner.invoke(app, ["verdicts", "--table", *db], env={"COLUMNS": "200"})
    assert table.exit_code == 0 and "→ pass" in table.stdout and "alice" in table.stdout
    piped = runner.invoke(app, ["verdicts", *db])  # not a terminal: tab-separated
    rows_of = {line.split("\t")[0]: line.split("\t") for line in piped.stdout.splitlines()}
    assert rows_of[a][2:5] == ["reject", "pass", "alice"]
    assert rows_of[b][2:5] == ["reject", "reject", ""]


def test_stats_and_metrics_show_reviewer_throughput(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    from datetime import UTC, datetime, timedelta

    two_hours_ago = datetime.now(UTC) - timedelta(hours=2)
    a = add_judged(store, created=two_hours_ago)
    b = add_judged(store, created=two_hours_ago)
    c = add_judged(store, created=two_hours_ago)
    store.add_review(a, "alice", "confirm")
    store.add_review(b, "alice", "override", "pass")
    _decide(client, keys["reviewer"], c, "override", "pass", "usage")
    stats = client.get("/v1/stats", headers=auth(keys["reviewer"])).json()["reviewers"]
    assert stats["decisions"] == 3
    assert stats["by_reviewer"]["alice"]["decisions"] == 2
    assert stats["by_reviewer"]["alice"]["confirmed"] == 1
    assert stats["by_reviewer"]["alice"]["overridden"] == 1
    assert stats["by_reviewer"]["reviewer-person"]["decisions"] == 1
    assert sum(h["decisions"] for h in stats["by_hour"]) == 3
    assert 7100 < stats["seconds_to_decision"]["median"] < 7400
    later = client.get("/v1/stats", headers=auth(keys["reviewer"]),
                       params={"since": "2099-01-01"}).json()["reviewers"]
    assert later["decisions"] == 0 and later["seconds_to_decision"]["median"] is None
    metrics = client.get("/metrics").text
    assert re.search(r'adreview_review_decisions_total\{action="override",decision="pass"'
                     r'\} [1-9]', metrics)
    assert "reviewer-person" not in metrics and "alice" not in metrics  # no personal names
    assert "adreview_review_seconds_to_decision_bucket" in metrics


@pytest.mark.parametrize(
    ("machine", "choices"),
    # a reviewed item ends in pass or reject: review is never a choice
    [(Decision.REJECT, "(pass)"), (Decision.PASS, "(reject)"),
     (Decision.REVIEW, "(pass or reject)")],
)
def test_an_override_to_error_or_to_the_machine_decision_names_the_other_choices_only(
    client: TestClient, store: Store, keys: dict[str, str], machine: Decision, choices: str,
) -> None:
    ident = add_judged(store, machine)
    for wrong in ("error", machine.value):
        answer = client.post(f"/v1/submissions/{ident}/decisions", headers=auth(keys["reviewer"]),
                             json={"action": "override", "decision": wrong})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["message"] == (
            f"an override needs a decision other than {machine.value!r} {choices}")
    assert store.reviews(ident) == []
