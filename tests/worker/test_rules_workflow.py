"""Rule editors' workflow: hot reload, dry-run diff on stored OCR, and rescan without OCR.

Storage tests run on SQLite and on PostgreSQL (``store`` / ``database_url`` fixtures).
"""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from models.base import TextLine
from rules import RuleSet, load_ruleset
from rules.reload import ReloadingRuleSet
from worker.cli import app
from worker.db import Store
from worker.db.models import OcrResult, RulesetVersion, Submission, VerdictRow
from worker.pipeline import judge_lines
from worker.rescan import rescan
from worker.rules_diff import diff_rules
from worker.settings import Settings
from worker.verdict import Verdict

CATEGORIES = """\
categories:
  - id: absolute
    name: 绝对化用语
    reference: 广告法第九条
  - id: promo
    name: 促销用语
    reference: 内部规范
"""

BASE_RULES = """\
rules:
  - id: absolute.first
    category: absolute
    severity: reject
    phrases: [全网第一]
    description: 排名
    reference: 第九条
  - id: absolute.best
    category: absolute
    severity: review
    phrases: [最佳]
    description: 最
    reference: 第九条
"""

# 全网第一 -> 销量第一, 最佳 review -> reject, and a new rule for 爆款.
CANDIDATE_RULES = """\
rules:
  - id: absolute.first
    category: absolute
    severity: reject
    phrases: [销量第一]
    description: 排名
    reference: 第九条
  - id: absolute.best
    category: absolute
    severity: reject
    phrases: [最佳]
    description: 最
    reference: 第九条
  - id: promo.hot
    category: promo
    severity: review
    phrases: [爆款]
    description: 爆款
    reference: 内部
"""

#: (source, text, decision with the base rules, decision with the candidate)
ADS = [
    ("ad-1", "全网第一 好物", "reject", "pass"),        # cleared
    ("ad-2", "最佳选择", "review", "reject"),          # changed
    ("ad-3", "今日爆款", "pass", "review"),            # newly flagged
    ("ad-4", "普通文字 欢迎选购", "pass", "pass"),      # unchanged
    ("ad-5", "销量第一", "pass", "reject"),            # newly flagged
    ("ad-6", "最佳 爆款", "review", "reject"),         # changed, with a hit added
]

ENGINE, ENGINE_VERSION = "fake", "fake-1"
BOX = ((0.0, 0.0), (100.0, 0.0), (100.0, 20.0), (0.0, 20.0))


def rule_folder(path: Path, rules: str) -> Path:
    """A rule folder with the shared categories and ``rules``."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "categories.yaml").write_text(CATEGORIES, encoding="utf-8")
    (path / "rules.yaml").write_text(rules, encoding="utf-8")
    return path


@pytest.fixture
def base_dir(tmp_path: Path) -> Path:
    return rule_folder(tmp_path / "base", BASE_RULES)


@pytest.fixture
def candidate_dir(tmp_path: Path) -> Path:
    return rule_folder(tmp_path / "candidate", CANDIDATE_RULES)


def seed(store: Store, ruleset: RuleSet) -> dict[str, str]:
    """Six submissions with stored OCR lines and a verdict each; source -> submission id."""
    store.save_ruleset(ruleset)
    ids = {}
    for source, text, expected, _ in ADS:
        sha = f"{source:0<64}"
        lines = [TextLine(part, BOX, 0.99) for part in text.split(" ")]
        submission = store.add_submission(sha, source, ad_id=f"ext-{source}")
        store.put_ocr(sha, ENGINE, ENGINE_VERSION, lines, (100, 20), 0.1)
        judged = judge_lines(lines, ruleset)
        assert judged.decision.value == expected
        store.record_verdict(submission, Verdict(judged.decision, judged.evidence,
                                                 ruleset.version, ENGINE, ENGINE_VERSION, sha))
        ids[source] = submission
    return ids


def row_counts(store: Store) -> dict[str, int]:
    with store.engine.connect() as connection:
        return {
            model.__tablename__: connection.execute(
                select(func.count()).select_from(model)
            ).scalar_one()
            for model in (Submission, OcrResult, VerdictRow, RulesetVersion)
        }


def current_decisions(store: Store) -> dict[str, str]:
    return {v.source: v.decision.value for v in store.current_verdicts()}


# -- hot reload ---------------------------------------------------------------------------


def failures() -> float:
    value = REGISTRY.get_sample_value("adreview_ruleset_reload_failures_total")
    return value or 0.0


def touch_later(path: Path, text: str) -> None:
    """Write ``text`` and make sure the modification time moves even on coarse clocks."""
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text, encoding="utf-8")
    if path.stat().st_mtime_ns <= before:
        os.utime(path, ns=(before + 1_000_000, before + 1_000_000))


def test_when_the_rule_folder_is_edited_then_the_new_phrase_matches(base_dir: Path) -> None:
    seen: list[str] = []
    rules = ReloadingRuleSet(base_dir, on_change=lambda r: seen.append(r.version))
    first = rules.current()
    assert first.judge("今日爆款").decision.value == "pass"
    assert rules.current() is first  # nothing changed: no reload

    touch_later(base_dir / "rules.yaml", CANDIDATE_RULES)
    second = rules.current()

    assert second.judge("今日爆款").decision.value == "review"
    assert second.version != first.version
    assert seen == [second.version]
    assert rules.last_error is None


def test_when_an_edit_breaks_the_rules_then_the_last_good_set_serves_until_fixed(
    base_dir: Path,
) -> None:
    rules = ReloadingRuleSet(base_dir)
    good = rules.current()
    failed_before = failures()

    touch_later(base_dir / "rules.yaml", BASE_RULES + "  - id: broken\n    category: nowhere\n")
    assert rules.current() is good
    assert rules.last_error is not None
    assert "rules.yaml" in str(rules.last_error)
    assert failures() == failed_before + 1
    assert rules.current() is good
    assert failures() == failed_before + 1  # the same broken edit is not tried again

    touch_later(base_dir / "rules.yaml", CANDIDATE_RULES)
    fixed = rules.current()
    assert rules.last_error is None
    assert fixed.judge("今日爆款").decision.value == "review"


def test_a_new_rule_file_is_picked_up(base_dir: Path) -> None:
    rules = ReloadingRuleSet(base_dir)
    rules.current()
    (base_dir / "more.yml").write_text(
        "rules:\n  - id: promo.hot\n    category: promo\n    severity: review\n"
        "    phrases: [爆款]\n    description: d\n    reference: r\n",
        encoding="utf-8",
    )
    assert rules.current().judge("今日爆款").decision.value == "review"


def test_worker_state_reloads_the_rules_and_stores_each_new_set(
    base_dir: Path, database_url: str
) -> None:
    from worker.tasks import WorkerState

    worker = WorkerState(Settings(rules_dir=base_dir, database_url=database_url))
    try:
        first = worker.ruleset
        store = worker.store
        assert store.get_ruleset(first.version) is not None
        touch_later(base_dir / "rules.yaml", CANDIDATE_RULES)
        second = worker.ruleset
        assert second.version != first.version
        assert store.get_ruleset(second.version) is not None
    finally:
        if worker._store is not None:
            worker._store.close()


# -- diff ---------------------------------------------------------------------------------


def test_diff_reports_flagged_cleared_and_changed_and_writes_nothing(
    store: Store, base_dir: Path, candidate_dir: Path
) -> None:
    ids = seed(store, load_ruleset(base_dir))
    counts = row_counts(store)

    result = diff_rules(store, load_ruleset(candidate_dir))

    assert row_counts(store) == counts
    assert result.examined == 6
    assert result.unchanged == 1
    assert {e.source for e in result.newly_flagged.examples} == {"ad-3", "ad-5"}
    assert [e.source for e in result.cleared.examples] == ["ad-1"]
    assert {e.source for e in result.changed.examples} == {"ad-2", "ad-6"}
    assert result.newly_flagged.count == 2 and result.changed.count == 2
    assert result.cleared.count == 1
    first = result.rules["absolute.first"]
    assert (first.added, first.removed, first.ads.count) == (1, 1, 2)
    hot = result.rules["promo.hot"]
    assert (hot.added, hot.removed) == (2, 0)
    assert "absolute.best" not in result.rules  # same hits, only the severity moved
    cleared = result.cleared.examples[0]
    assert cleared.submission == ids["ad-1"]
    assert cleared.ad_id == "ext-ad-1"
    assert cleared.removed == (("absolute.first", "全网第一"),)
    assert cleared.text == "全网第一 / 好物"
    assert result.before == {"reject": 1, "review": 2, "pass": 3}
    assert result.after == {"reject": 3, "review": 1, "pass": 2}


def test_diff_limit_examines_only_the_newest(
    store: Store, base_dir: Path, candidate_dir: Path
) -> None:
    seed(store, load_ruleset(base_dir))
    assert diff_rules(store, load_ruleset(candidate_dir), limit=2).examined == 2


def test_rules_diff_command_prints_one_json_object(
    database_url: str, base_dir: Path, candidate_dir: Path
) -> None:
    with Store.open(database_url) as store:
        seed(store, load_ruleset(base_dir))
        counts = row_counts(store)
    result = CliRunner().invoke(
        app, ["rules", "diff", str(candidate_dir), "--json", "--db", database_url]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["newly_flagged"]["count"] == 2
    assert data["cleared"]["count"] == 1
    assert data["changed"]["count"] == 2
    assert data["rules"]["promo.hot"]["added"] == 2
    with Store.open(database_url) as store:
        assert row_counts(store) == counts


# -- rescan -------------------------------------------------------------------------------


def test_rescan_adds_one_verdict_per_submission_keeps_history_and_runs_once(
    store: Store, base_dir: Path, candidate_dir: Path
) -> None:
    base = load_ruleset(base_dir)
    ids = seed(store, base)
    candidate = load_ruleset(candidate_dir)
    before = row_counts(store)["verdicts"]

    summary = rescan(store, candidate)

    assert summary.judged == 6 and summary.written == 6
    assert summary.changed == 5
    assert row_counts(store)["verdicts"] == before + 6
    assert current_decisions(store) == {source: after for source, _, _, after in ADS}
    history = store.verdict_history(ids["ad-6"])
    assert [v.verdict.ruleset for v in history] == [candidate.version, base.version]
    assert [m.rule for m in history[0].verdict.matches] == ["absolute.best", "promo.hot"]
    assert store.get_ruleset(candidate.version) is not None

    again = rescan(store, candidate)
    assert again.judged == 0 and again.written == 0
    assert row_counts(store)["verdicts"] == before + 6


def test_rescan_back_to_an_earlier_rule_set_makes_its_verdicts_current_again(
    store: Store, base_dir: Path, candidate_dir: Path
) -> None:
    base = load_ruleset(base_dir)
    seed(store, base)
    rescan(store, load_ruleset(candidate_dir))
    rows = row_counts(store)["verdicts"]

    summary = rescan(store, base)

    assert summary.judged == 6
    assert row_counts(store)["verdicts"] == rows  # the same keys: judged again, not added
    assert current_decisions(store) == {source: b for source, _, b, _ in ADS}


def test_rescan_filters_on_decision_and_since(
    store: Store, base_dir: Path, candidate_dir: Path
) -> None:
    ids = seed(store, load_ruleset(base_dir))
    candidate = load_ruleset(candidate_dir)
    old = datetime.now(UTC) - timedelta(days=3)
    with store.engine.begin() as connection:
        connection.execute(
            update(VerdictRow)
            .where(VerdictRow.submission_id.in_([ids["ad-1"], ids["ad-2"], ids["ad-3"]]))
            .values(judged_at=old)
        )

    only_review = rescan(store, candidate, decision="review")
    assert only_review.judged == 2
    assert {v.source for v in store.current_verdicts() if v.verdict.ruleset ==
            candidate.version} == {"ad-2", "ad-6"}

    recent = rescan(store, candidate, since=datetime.now(UTC) - timedelta(days=1))
    # ad-6 is done already; ad-4 and ad-5 are recent; ad-1 and ad-3 are too old.
    assert recent.judged == 2
    done = {v.source for v in store.current_verdicts() if v.verdict.ruleset == candidate.version}
    assert done == {"ad-2", "ad-4", "ad-5", "ad-6"}


def test_rescan_in_several_processes_gives_the_same_verdicts(
    store: Store, base_dir: Path, candidate_dir: Path
) -> None:
    seed(store, load_ruleset(base_dir))
    summary = rescan(store, load_ruleset(candidate_dir), rules_dir=candidate_dir, jobs=2)
    assert summary.judged == 6
    assert current_decisions(store) == {source: after for source, _, _, after in ADS}


def test_rescan_command_judges_with_the_given_rules(
    database_url: str, base_dir: Path, candidate_dir: Path
) -> None:
    with Store.open(database_url) as store:
        seed(store, load_ruleset(base_dir))
    args = ["rescan", "--rules", str(candidate_dir), "--db", database_url, "--jobs", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "6 stored ads judged again" in result.stdout
    second = CliRunner().invoke(app, args)
    assert second.exit_code == 0, second.output
    assert "every stored ad is judged with it already; nothing to do" in second.stdout
    assert "now none" not in second.stdout
    with Store.open(database_url) as store:
        assert current_decisions(store) == {source: after for source, _, _, after in ADS}


def test_bulk_verdict_writes_keep_text_that_copy_would_escape(
    store: Store, base_dir: Path
) -> None:
    from worker.db.bulk import record_verdicts_bulk

    ruleset = load_ruleset(base_dir)
    store.save_ruleset(ruleset)
    submission = store.add_submission("e" * 64, "escape")
    awkward = "tab\there\\back slash\nnew line\r全网第一 \\N"
    match = {"rule": "absolute.first", "category": "absolute", "severity": "reject",
             "phrase": "全网第一", "text": awkward, "line": awkward,
             "box": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]], "score": 0.5,
             "uncertain": False}
    now = datetime.now(UTC)
    row = {"submission_id": submission, "decision": "reject", "matches": [match],
           "error_code": None, "error_message": None, "ruleset_version": ruleset.version,
           "engine": ENGINE, "engine_version": ENGINE_VERSION, "sha256": "e" * 64,
           "timings": {"ocr_cached": 1.0}, "created_at": now, "judged_at": now}

    assert record_verdicts_bulk(store, [row, row]) == 2  # the same key twice: one row

    history = store.verdict_history(submission)
    assert len(history) == 1
    stored = history[0].verdict
    assert stored.decision.value == "reject"
    assert stored.matches[0].text == awkward
    assert stored.matches[0].line == awkward
    assert stored.error is None
    assert stored.timings == {"ocr_cached": 1.0}


def test_stale_verdicts_gives_every_submission_once_while_new_verdicts_are_written(
    store: Store, base_dir: Path, candidate_dir: Path
) -> None:
    from worker.db.bulk import record_verdicts_bulk, stale_verdicts

    ids = seed(store, load_ruleset(base_dir))
    candidate = load_ruleset(candidate_dir)
    store.save_ruleset(candidate)
    seen: list[str] = []
    for part in stale_verdicts(store, not_ruleset=candidate.version, chunk=4):
        assert 0 < len(part) <= 4
        seen.extend(row[1] for row in part)
        now = datetime.now(UTC)
        record_verdicts_bulk(store, [
            {"submission_id": row[1], "decision": "pass", "matches": [], "error_code": None,
             "error_message": None, "ruleset_version": candidate.version, "engine": row[3],
             "engine_version": row[4], "sha256": row[5], "timings": {},
             "created_at": now, "judged_at": now}
            for row in part
        ])
    assert sorted(seen) == sorted(ids.values())
    assert list(stale_verdicts(store, not_ruleset=candidate.version, chunk=4)) == []
