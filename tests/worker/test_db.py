"""The storage layer: migrations, the OCR cache, idempotent verdicts, history and reviews.

Every test that takes ``store`` or ``database_url`` runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import io
import json
import multiprocessing
import time
from datetime import UTC, datetime, timedelta, timezone
from multiprocessing.context import ForkContext, SpawnContext
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from PIL import Image
from sqlalchemy import Column, Integer, MetaData, func, inspect, select
from sqlalchemy import table as table_

from models.base import FakeEngine, TextLine
from rules import Decision, RuleSet, Severity
from worker.db import (
    DatabaseUnavailable,
    InvalidRecord,
    NotFound,
    ReviewAction,
    SchemaOutdated,
    Store,
    SubmissionStatus,
    head_revision,
    make_engine,
    new_id,
    scan_submission_id,
    upgrade,
)
from worker.db.models import Base, OcrResult, VerdictRow
from worker.errors import AdreviewError, ConfigError, ErrorCode
from worker.pipeline import OcrCache, review
from worker.verdict import Evidence, Verdict, VerdictError

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
TABLES = {"submissions", "ocr_results", "rulesets", "verdicts", "reviews", "api_keys",
          "review_sessions", "fetched_images", "send_outbox", "callback_outbox", "claims",
          "audit_log", "alembic_version"}

LINES = [
    TextLine.rect("限时特惠 全网第一", 12.5, 20.0, 310.25, 58.0, 0.9731),
    # a rotated line: four distinct corners
    TextLine("根治脱发", ((400.0, 100.0), (520.5, 130.0), (510.0, 170.75), (390.0, 140.0)), 0.5),
    TextLine.rect("没有分数的行", 0.0, 200.0, 100.0, 230.0, None),
]

EVIDENCE = Evidence(
    rule="absolute.first",
    category="absolute",
    severity=Severity.REJECT,
    phrase="全网第一",
    text="全网第一",
    line="限时特惠 全网第一",
    box=((180.5, 20.0), (310.0, 20.0), (310.0, 58.0), (180.5, 58.0)),
    score=0.9731,
)


def verdict(
    decision: Decision = Decision.REJECT,
    *,
    ruleset: str = "rules-v1",
    engine_version: str = "fake-1",
    created: datetime = T0,
    sha256: str | None = "a" * 64,
    matches: tuple[Evidence, ...] | None = None,
) -> Verdict:
    """A verdict as the pipeline makes them."""
    if matches is None:
        matches = (EVIDENCE,) if decision is Decision.REJECT else ()
    return Verdict(decision, matches, ruleset, "fake", engine_version, sha256,
                   timings={"ocr": 0.25, "match": 0.001}, created=created)


def count(store: Store, table: str) -> int:
    with store.engine.connect() as connection:
        return int(connection.execute(select(func.count()).select_from(table_(table))).scalar_one())


# -- migrations ---------------------------------------------------------------------------


def test_migrating_an_empty_database_creates_every_table_at_the_newest_revision(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) == set()
        upgrade(engine)
        assert set(inspect(engine).get_table_names()) == TABLES
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == head_revision()
    finally:
        engine.dispose()


def test_migrating_twice_is_a_no_op_and_keeps_the_data(database_url: str) -> None:
    with Store.open(database_url) as store:
        submission = store.add_submission("b" * 64, "upload")
    upgrade(database_url)
    with Store.open(database_url) as store:
        assert store.get_submission(submission) is not None
        assert count(store, "submissions") == 1
        assert count(store, "alembic_version") == 1


def test_the_migrated_schema_matches_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []

        # The comparison does see a difference when there is one.
        changed = MetaData()
        for table in Base.metadata.tables.values():
            table.to_metadata(changed)
        changed.tables["reviews"].append_column(Column("extra", Integer))
        diff = compare_metadata(context, changed)
    assert [(d[0], d[3].name) for d in diff] == [("add_column", "extra")]


def test_when_the_schema_is_not_migrated_then_opening_without_migrate_fails(
    database_url: str,
) -> None:
    with pytest.raises(SchemaOutdated, match="none \\(empty\\)"):
        Store.open(database_url, migrate=False)
    Store.open(database_url).close()
    Store.open(database_url, migrate=False).close()


# -- connecting -----------------------------------------------------------------------------


def test_sqlite_connections_use_wal_busy_timeout_foreign_keys_and_normal_sync(
    sqlite_url: str,
) -> None:
    with Store.open(sqlite_url) as store, store.engine.connect() as connection:
        pragma = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
                  for name in ("journal_mode", "busy_timeout", "foreign_keys", "synchronous")}
    assert pragma == {"journal_mode": "wal", "busy_timeout": 30000, "foreign_keys": 1,
                      "synchronous": 1}


def test_when_postgresql_is_unreachable_then_the_error_names_the_url_without_password() -> None:
    url = "postgresql+psycopg://adreview:s3cret-pw@127.0.0.1:1/adreview"
    with pytest.raises(DatabaseUnavailable) as caught:
        Store.open(url)
    message = str(caught.value)
    assert "postgresql+psycopg://adreview:***@127.0.0.1:1/adreview" in message
    assert "s3cret-pw" not in message
    assert caught.value.url == "postgresql+psycopg://adreview:***@127.0.0.1:1/adreview"
    assert isinstance(caught.value, AdreviewError)


def test_when_the_sqlite_folder_does_not_exist_then_database_unavailable(tmp_path: Any) -> None:
    with pytest.raises(DatabaseUnavailable, match="no-such-folder"):
        Store.open(f"sqlite:///{tmp_path / 'no-such-folder' / 'x.db'}")


def test_when_the_url_is_not_a_database_url_then_config_error() -> None:
    with pytest.raises(ConfigError):
        Store.open("not a url at all")
    with pytest.raises(ConfigError, match="nosuchdriver"):
        Store.open("postgresql+nosuchdriver://u:pw@127.0.0.1/x")


# -- the OCR cache --------------------------------------------------------------------------


def test_ocr_lines_round_trip_with_boxes_and_scores(store: Store) -> None:
    assert store.get_ocr("c" * 64, "fake", "fake-1") is None
    assert store.put_ocr("c" * 64, "fake", "fake-1", LINES, (640, 480), 0.42) is True
    assert store.get_ocr("c" * 64, "fake", "fake-1") == LINES
    assert store.get_ocr("c" * 64, "fake", "fake-2") is None  # another engine version
    assert store.get_ocr("c" * 64, "other", "fake-1") is None
    with store.engine.connect() as connection:
        row = connection.execute(select(OcrResult.width, OcrResult.height, OcrResult.seconds))
        assert row.one() == (640, 480, 0.42)


def test_putting_the_same_ocr_result_twice_keeps_one_row_and_the_first_lines(store: Store) -> None:
    assert store.put_ocr("d" * 64, "fake", "fake-1", LINES, (640, 480), 0.4)
    assert not store.put_ocr("d" * 64, "fake", "fake-1", LINES[:1], (640, 480), 0.5)
    assert count(store, "ocr_results") == 1
    assert store.get_ocr("d" * 64, "fake", "fake-1") == LINES


def test_bulk_ocr_lookup_returns_only_the_stored_keys(store: Store) -> None:
    hashes = [f"{i:064x}" for i in range(1200)]  # more than one IN (...) chunk
    assert store.put_ocr_many(
        (h, "fake", "fake-1", [TextLine.rect(h[-4:], 0, 0, 10, 10, 0.9)], (10, 10), 0.1)
        for h in hashes[::2]
    ) == 600
    keys = [(h, "fake", "fake-1") for h in hashes] + [(hashes[0], "fake", "fake-9")]
    found = store.get_ocr_many(keys)
    assert set(found) == {(h, "fake", "fake-1") for h in hashes[::2]}
    assert found[(hashes[2], "fake", "fake-1")][0].text == hashes[2][-4:]


def test_the_store_serves_as_the_pipelines_ocr_cache(store: Store) -> None:
    cache: OcrCache = store.ocr_cache()
    assert cache.get("e" * 64, "fake", "fake-1") is None
    cache.put("e" * 64, "fake", "fake-1", LINES, (100, 100), 0.1)
    cache.put("e" * 64, "fake", "fake-1", LINES, (100, 100), 0.1)
    assert cache.get("e" * 64, "fake", "fake-1") == LINES
    assert count(store, "ocr_results") == 1



def test_a_reposted_image_is_read_once_and_judged_once(store: Store, small: RuleSet) -> None:
    image = Image.new("RGB", (200, 80), "white")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    engine = FakeEngine([TextLine.rect("本店全网第一", 0, 0, 120, 20, 0.95)])
    sub = store.add_submission(None, "upload")
    for _ in range(2):  # the same task delivered twice
        result = review(buffer.getvalue(), engine, small, cache=store.ocr_cache())
        store.record_verdict(sub, result)
    assert engine.calls == 1
    assert count(store, "ocr_results") == 1
    assert count(store, "verdicts") == 1
    current = store.current_verdict(sub)
    assert current is not None and current.decision is Decision.REJECT
    assert [m.phrase for m in current.verdict.matches] == ["全网第一"]

# -- submissions ----------------------------------------------------------------------------


def test_adding_a_submission_with_a_known_id_is_idempotent(store: Store) -> None:
    first = store.add_submission("f" * 64, "upload", ad_id="ad-7", metadata={"shop": 3},
                                 submission_id="sub-1")
    again = store.add_submission("f" * 64, "upload", ad_id="ad-7", submission_id="sub-1")
    assert first == again == "sub-1"
    assert count(store, "submissions") == 1
    stored = store.get_submission("sub-1")
    assert stored is not None
    assert (stored.ad_id, stored.metadata, stored.status) == ("ad-7", {"shop": 3},
                                                             SubmissionStatus.QUEUED)
    assert stored.created.tzinfo is not None


def test_new_submission_ids_are_unique_and_sort_by_creation(store: Store) -> None:
    ids = []
    for _ in range(5):
        ids.append(store.add_submission(None, "url:https://example.com/a.png"))
        time.sleep(0.002)  # ids sort by their millisecond
    assert len(set(ids)) == 5
    assert all(len(i) == 36 and i[14] == "7" for i in ids)  # UUID version 7
    assert ids == sorted(ids)
    assert len({new_id() for _ in range(1000)}) == 1000


def test_scanning_the_same_file_again_reuses_its_submission(store: Store) -> None:
    first = store.add_scan_submission("/ads/a.jpg", "1" * 64)
    assert store.add_scan_submission("/ads/a.jpg", "1" * 64) == first
    assert first == scan_submission_id("scan:/ads/a.jpg", "1" * 64)
    changed = store.add_scan_submission("/ads/a.jpg", "2" * 64)  # the file was edited
    assert changed != first
    assert count(store, "submissions") == 2
    by_source = store.find_submission_by_source("scan:/ads/a.jpg")
    assert by_source is not None and by_source.id in {first, changed}
    by_sha = store.find_submission_by_sha("1" * 64)
    assert by_sha is not None and by_sha.id == first
    assert [s.id for s in store.find_submissions(sha256="2" * 64)] == [changed]


def test_attempts_are_counted_and_stale_submissions_found(store: Store) -> None:
    sub = store.add_submission("3" * 64, "upload")
    assert store.start_attempt(sub) == 1
    assert store.start_attempt(sub) == 2
    stored = store.get_submission(sub)
    assert stored is not None and stored.status is SubmissionStatus.PROCESSING
    assert store.stale_submissions(timedelta(minutes=5)) == []
    assert [s.id for s in store.stale_submissions(timedelta(seconds=-1))] == [sub]
    store.record_verdict(sub, verdict(Decision.PASS))
    assert store.stale_submissions(timedelta(seconds=-1)) == []
    with pytest.raises(NotFound):
        store.start_attempt("no-such-submission")


# -- verdicts -------------------------------------------------------------------------------


def test_recording_the_same_verdict_twice_keeps_one_row_with_the_same_id(store: Store) -> None:
    sub = store.add_submission("a" * 64, "upload")
    first_id, created = store.record_verdict(sub, verdict())
    assert created
    second_id, created_again = store.record_verdict(sub, verdict(created=T0 + timedelta(hours=1)))
    assert (second_id, created_again) == (first_id, False)
    assert count(store, "verdicts") == 1
    current = store.current_verdict(sub)
    assert current is not None
    assert current.verdict.created == T0  # the row is the first one, judged again later
    assert current.judged == T0 + timedelta(hours=1)


def test_a_verdict_round_trips_with_its_evidence(store: Store) -> None:
    sub = store.add_submission(None, "upload", ad_id="ad-42")
    original = verdict()
    store.record_verdict(sub, original)
    (stored,) = store.current_verdicts()
    assert stored.verdict == original
    assert stored.verdict.matches[0].box == EVIDENCE.box
    assert (stored.submission, stored.ad_id, stored.source) == (sub, "ad-42", "upload")
    submission = store.get_submission(sub)
    assert submission is not None
    assert submission.status is SubmissionStatus.DONE
    assert submission.sha256 == "a" * 64  # learnt from the verdict


def test_stored_verdict_json_has_the_verdicts_command_fields(store: Store) -> None:
    sub = store.add_submission("a" * 64, "scan:/ads/x.png", ad_id="ad-1")
    store.record_verdict(sub, verdict())
    (stored,) = store.current_verdicts()
    data = json.loads(json.dumps(stored.to_dict(), ensure_ascii=False))
    assert {"submission", "ad_id", "decision", "matches", "error", "ruleset"} <= set(data)
    assert data["submission"] == sub
    assert data["ad_id"] == "ad-1"
    assert data["decision"] == "reject"
    assert data["ruleset"] == "rules-v1"
    assert data["engine"] == "fake"
    assert data["source"] == "scan:/ads/x.png"
    assert data["sha256"] == "a" * 64
    assert datetime.fromisoformat(data["created"]) == T0
    assert data["error"] is None
    (match,) = data["matches"]
    assert Evidence.from_dict(match) == EVIDENCE
    assert {"rule", "category", "severity", "phrase", "text", "box"} <= set(match)


def test_an_error_verdict_keeps_its_code_and_marks_the_submission(store: Store) -> None:
    sub = store.add_submission(None, "url:https://example.com/broken.png")
    failed = Verdict.failed(VerdictError(ErrorCode.FETCH_FAILED, "HTTP 404"), ruleset="rules-v1",
                            engine="fake", engine_version="fake-1", sha256=None)
    store.record_verdict(sub, failed)
    current = store.current_verdict(sub)
    assert current is not None
    assert current.verdict.error == VerdictError(ErrorCode.FETCH_FAILED, "HTTP 404")
    assert current.to_dict()["error"] == {"code": "fetch_failed", "message": "HTTP 404"}
    submission = store.get_submission(sub)
    assert submission is not None and submission.status is SubmissionStatus.ERROR


def test_a_verdict_for_an_unknown_submission_is_refused(store: Store) -> None:
    with pytest.raises(NotFound, match="nobody"):
        store.record_verdict("nobody", verdict())
    assert count(store, "verdicts") == 0


def test_a_new_ruleset_version_adds_history_and_becomes_current(store: Store) -> None:
    sub = store.add_submission("a" * 64, "upload")
    old_id, _ = store.record_verdict(sub, verdict(Decision.REJECT, ruleset="rules-v1"))
    new_id, created = store.record_verdict(
        sub, verdict(Decision.PASS, ruleset="rules-v2", created=T0 + timedelta(minutes=5))
    )
    assert created and new_id != old_id
    history = store.verdict_history(sub)
    assert [(h.id, h.verdict.ruleset) for h in history] == [(new_id, "rules-v2"),
                                                            (old_id, "rules-v1")]
    (current,) = store.current_verdicts()
    assert (current.id, current.decision) == (new_id, Decision.PASS)
    # A new engine version is new history too.
    store.record_verdict(sub, verdict(Decision.PASS, ruleset="rules-v2", engine_version="fake-2",
                                      created=T0 + timedelta(minutes=6)))
    assert len(store.verdict_history(sub)) == 3


def test_when_rules_are_rolled_back_then_the_old_verdict_is_current_again(store: Store) -> None:
    sub = store.add_submission("a" * 64, "upload")
    v1, _ = store.record_verdict(sub, verdict(Decision.REJECT, ruleset="rules-v1"))
    store.record_verdict(sub, verdict(Decision.PASS, ruleset="rules-v2",
                                      created=T0 + timedelta(minutes=1)))
    again, created = store.record_verdict(
        sub, verdict(Decision.REJECT, ruleset="rules-v1", created=T0 + timedelta(minutes=2))
    )
    assert (again, created) == (v1, False)
    assert count(store, "verdicts") == 2
    (current,) = store.current_verdicts()
    assert (current.id, current.decision) == (v1, Decision.REJECT)


def test_rulesets_are_stored_once_and_their_content_filled_in_later(store: Store) -> None:
    sub = store.add_submission("a" * 64, "upload")
    store.record_verdict(sub, verdict(ruleset="rules-v1"))  # known only by its version
    assert store.get_ruleset("rules-v1") is None
    store.ensure_ruleset("rules-v1", {"rules": [{"id": "absolute.first"}]})
    store.ensure_ruleset("rules-v1", {"rules": []})  # the version is a content hash: kept
    assert store.get_ruleset("rules-v1") == {"rules": [{"id": "absolute.first"}]}
    assert count(store, "rulesets") == 1


def test_times_past_the_ends_of_the_calendar_in_utc_filter_like_any_other(store: Store) -> None:
    sub = store.add_submission("ab" * 32, "upload")
    store.record_verdict(sub, verdict(Decision.PASS, created=T0))
    # 0001-01-01 00:00 at UTC+1 minute is before year 1 in UTC; 9999-12-31 23:59 at
    # UTC-1 minute is after year 9999. Neither can be written as a UTC datetime.
    first = datetime(1, 1, 1, tzinfo=timezone(timedelta(minutes=1)))
    last = datetime(9999, 12, 31, 23, 59, tzinfo=timezone(timedelta(minutes=-1)))
    assert [v.submission for v in store.current_verdicts(since=first)] == [sub]
    assert store.current_verdicts(since=last) == []


def test_current_verdicts_filter_by_decision_since_and_limit(store: Store) -> None:
    decisions = [Decision.PASS, Decision.REJECT, Decision.REVIEW, Decision.REJECT, Decision.PASS]
    subs = []
    for minute, decision in enumerate(decisions):
        sub = store.add_submission(f"{minute:064x}", "upload", ad_id=f"ad-{minute}")
        store.record_verdict(sub, verdict(decision, created=T0 + timedelta(minutes=minute)))
        subs.append(sub)
    # Every submission once, newest first.
    assert [v.submission for v in store.current_verdicts()] == subs[::-1]
    assert [v.submission for v in store.current_verdicts(decision="reject")] == [subs[3], subs[1]]
    assert [v.submission for v in store.current_verdicts(Decision.PASS)] == [subs[4], subs[0]]
    since = store.current_verdicts(since=T0 + timedelta(minutes=2))
    assert [v.submission for v in since] == [subs[4], subs[3], subs[2]]
    assert [v.submission for v in store.current_verdicts(limit=2)] == [subs[4], subs[3]]
    # A later verdict with another decision moves the submission out of the old filter.
    store.record_verdict(subs[1], verdict(Decision.PASS, ruleset="rules-v2",
                                          created=T0 + timedelta(minutes=9)))
    assert [v.submission for v in store.current_verdicts(decision="reject")] == [subs[3]]
    with pytest.raises(InvalidRecord, match="maybe"):
        store.current_verdicts(decision="maybe")


# -- reviewer decisions ---------------------------------------------------------------------


def _verdict_row(store: Store, verdict_id: int) -> tuple[Any, ...]:
    with store.engine.connect() as connection:
        return tuple(connection.execute(
            select(VerdictRow.__table__).where(VerdictRow.id == verdict_id)
        ).one())


def test_a_reviewer_decision_is_stored_without_altering_the_verdict(store: Store) -> None:
    sub = store.add_submission("a" * 64, "upload")
    verdict_id, _ = store.record_verdict(sub, verdict(Decision.REJECT))
    before = _verdict_row(store, verdict_id)
    confirmed = store.add_review(sub, "alice", "confirm", note="clear absolute claim")
    overridden = store.add_review(sub, "bob", ReviewAction.OVERRIDE, Decision.PASS,
                                  note="brand name, not a claim")
    assert _verdict_row(store, verdict_id) == before
    current = store.current_verdict(sub)
    assert current is not None and current.decision is Decision.REJECT
    assert [(r.reviewer, r.action, r.decision, r.verdict_id) for r in store.reviews(sub)] == [
        ("alice", ReviewAction.CONFIRM, Decision.REJECT, verdict_id),
        ("bob", ReviewAction.OVERRIDE, Decision.PASS, verdict_id),
    ]
    assert store.reviews(sub) == [confirmed, overridden]
    assert overridden.to_dict()["note"] == "brand name, not a claim"


def test_reviews_that_contradict_themselves_are_refused(store: Store) -> None:
    sub = store.add_submission("a" * 64, "upload")
    with pytest.raises(NotFound, match="no verdict"):
        store.add_review(sub, "alice", "confirm")
    store.record_verdict(sub, verdict(Decision.REJECT))
    with pytest.raises(InvalidRecord, match="use override"):
        store.add_review(sub, "alice", "confirm", "pass")
    with pytest.raises(InvalidRecord, match="other than"):
        store.add_review(sub, "alice", "override", "reject")
    with pytest.raises(InvalidRecord, match="ReviewAction"):
        store.add_review(sub, "alice", "shrug")
    assert store.reviews(sub) == []


# -- re-judging stored OCR ------------------------------------------------------------------


def test_submissions_with_stored_ocr_are_listed_with_their_lines(store: Store) -> None:
    read = [store.add_submission(f"{i:064x}", "upload") for i in range(5)]
    store.add_submission("f" * 64, "upload")  # never read
    for i in range(5):
        store.put_ocr(f"{i:064x}", "fake", "fake-1", LINES[:1], (10, 10), 0.1)
    store.put_ocr("f" * 64, "fake", "fake-2", LINES, (10, 10), 0.1)  # other version
    listed = list(store.submissions_with_ocr("fake", "fake-1", batch=2))
    assert sorted(s.id for s, _ in listed) == sorted(read)
    assert all(lines == LINES[:1] for _, lines in listed)


# -- concurrency ----------------------------------------------------------------------------


def _concurrent_writer(url: str, worker: int, rounds: int, barrier: Any) -> None:
    store = Store.open(url, migrate=False)
    try:
        barrier.wait(timeout=60)
        for i in range(rounds):
            # The same OCR keys from every writer (races on the unique key) ...
            store.put_ocr(f"{i:064x}", "fake", "fake-1", LINES, (64, 64), 0.01)
            # ... and a submission and verdict of its own, recorded twice.
            sub = store.add_scan_submission(f"/w{worker}/{i}.png", f"{i:064x}")
            store.start_attempt(sub)
            store.record_verdict(sub, verdict(Decision.PASS, sha256=f"{i:064x}"))
            store.record_verdict(sub, verdict(Decision.PASS, sha256=f"{i:064x}"))
    finally:
        store.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_concurrent_writer_processes_neither_lock_out_nor_duplicate(
    backend: str, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue(f"{backend}_url")
    upgrade(url)
    writers, rounds = 4, 25
    # fork, as a Celery prefork pool does (spawn where there is no fork)
    context: ForkContext | SpawnContext
    if "fork" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("fork")
    else:
        context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(writers)
    processes = [context.Process(target=_concurrent_writer, args=(url, w, rounds, barrier))
                 for w in range(writers)]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=120)
    assert [p.exitcode for p in processes] == [0] * writers
    with Store.open(url, migrate=False) as store:
        assert count(store, "ocr_results") == rounds
        assert count(store, "submissions") == writers * rounds
        assert count(store, "verdicts") == writers * rounds
        assert len(store.current_verdicts(Decision.PASS)) == writers * rounds



def test_the_recorded_head_revision_is_the_newest_migration_script() -> None:
    from worker.db.migrate import HEAD_REVISION, head_revision

    assert head_revision() == HEAD_REVISION


# -- outboxes -----------------------------------------------------------------------------


def test_a_decision_writes_one_numbered_callback_per_change_of_the_effective_decision(
    store: Store,
) -> None:
    ident = store.add_submission(None, "inline", metadata={"callback_url": "https://h/x"})
    store.record_verdict(ident, verdict(Decision.REJECT))

    def payload(stored: Any) -> dict[str, Any]:
        return {"effective": stored.effective_decision.value}

    store.add_review(ident, "a", "confirm", callback=payload)  # reject stays reject
    store.add_review(ident, "a", "override", "pass", callback=payload)
    store.add_review(ident, "b", "override", "pass", callback=payload)  # pass stays pass
    store.add_review(ident, "b", "override", "review")  # no callback asked for
    store.add_review(ident, "c", "confirm", callback=payload)  # review -> reject
    due = store.due_callbacks()
    assert [(c.seq, c.payload) for c in due] == [
        (1, {"effective": "pass", "sequence": 1})]  # only the first of the submission
    store.callback_done(due[0].id)
    (second,) = store.due_callbacks()
    assert (second.seq, second.payload["effective"], second.url) == (2, "reject", "https://h/x")
    store.callback_failed(second.id, "HTTP 503", datetime.now(UTC) + timedelta(hours=1))
    assert store.due_callbacks() == []  # backing off, and nothing overtakes it


def test_decide_and_undo_write_a_callback_only_when_the_effective_decision_changes(
    store: Store,
) -> None:
    ident = store.add_submission(None, "inline", metadata={"callback_url": "https://h/x"})
    store.record_verdict(ident, verdict(Decision.REJECT))

    def payload(stored: Any) -> dict[str, Any]:
        return {"effective": stored.effective_decision.value}

    store.decide(ident, "a", "reject", callback=payload)  # reject stays reject: none
    store.decide(ident, "b", "pass", callback=payload)  # reject -> pass
    store.undo_decision(ident, "b", timedelta(minutes=10), callback=payload)  # -> reject
    store.decide(ident, "c", "reject", callback=payload)  # reject stays reject: none
    store.undo_decision(ident, "c", timedelta(minutes=10), callback=payload)  # still reject
    sent = []
    while due := store.due_callbacks():
        sent.append((due[0].seq, due[0].payload["effective"]))
        store.callback_done(due[0].id)
    assert sent == [(1, "pass"), (2, "reject")]


def test_the_send_outbox_keeps_a_submission_until_it_is_marked_sent(store: Store) -> None:
    sent = store.add_submission(None, "inline", unsent=True)
    kept = store.add_submission(None, "inline", unsent=True)
    store.add_submission(None, "inline")  # never in the outbox
    store.mark_sent(sent)
    assert [s.id for s in store.unsent_submissions(timedelta(0))] == [kept]
    assert store.unsent_submissions(timedelta(hours=1)) == []  # too young for the relay
