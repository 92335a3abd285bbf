"""The feedback loop on a fixture whose numbers are known: per rule and phrase, hits,
confirmed, overridden and precision from reviewer decisions, overridden hits grouped by
their surrounding text, and a suggested exception that, pasted into the rule file,
silences exactly the overridden context (checked with ``rules diff``). On SQLite and
PostgreSQL, through the library, the command line, the API and the console page."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from models.base import TextLine
from rules import RuleSet, load_ruleset
from tests.worker.test_api import auth, broker, keys, settings, store
from worker.api import create_app
from worker.db import Store
from worker.pipeline import judge_lines
from worker.rule_stats import context_of, rule_stats
from worker.rules_diff import diff_rules
from worker.settings import Settings
from worker.verdict import Verdict

__all__ = ["broker", "keys", "settings", "store"]

CATEGORIES = """\
categories:
  - id: absolute
    name: 绝对化用语
    reference: 广告法第九条
"""

RULES = """\
rules:
  - id: absolute.first
    category: absolute
    severity: reject
    phrases: [第一]
    description: 排名
    reference: 第九条
  - id: absolute.best
    category: absolute
    severity: review
    phrases: [最佳, 最优]
    description: 最
    reference: 第九条
"""

#: (text, the reviewer's decision or None): 第一步 is a usage step, overridden three times.
ADS = [
    ("第一步 先洁面", "pass"),
    ("第一步 再补水", "pass"),
    ("第一步 轻拍", "pass"),
    ("全网第一", "confirm"),
    ("销量第一名", "confirm"),
    ("唯一第一", "pass"),
    ("全网第一", None),
    ("最佳选择", "confirm"),
    ("最佳拍档", "pass"),
    ("最优方案", "reject"),
]
BOX = ((0.0, 0.0), (100.0, 0.0), (100.0, 20.0), (0.0, 20.0))


@pytest.fixture
def rule_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "rules"
    folder.mkdir()
    (folder / "categories.yaml").write_text(CATEGORIES, encoding="utf-8")
    (folder / "rules.yaml").write_text(RULES, encoding="utf-8")
    return folder


def _seed(store: Store, ruleset: RuleSet) -> dict[str, list[str]]:
    """The ads with stored OCR, verdicts and reviews; text -> submission ids."""
    store.save_ruleset(ruleset)
    ids: dict[str, list[str]] = {}
    for n, (text, decided) in enumerate(ADS):
        sha = f"{n:064x}"
        lines = [TextLine(part, BOX, 0.99) for part in text.split(" ")]
        ident = store.add_submission(sha, f"ad-{n}", ad_id=f"ad-{n}")
        store.put_ocr(sha, "fake", "fake-1", lines, (100, 20), 0.1)
        judged = judge_lines(lines, ruleset)
        store.record_verdict(ident, Verdict(judged.decision, judged.evidence, ruleset.version,
                                            "fake", "fake-1", sha))
        if decided == "confirm":
            store.add_review(ident, "alice", "confirm")
        elif decided is not None:
            store.add_review(ident, "alice", "override", decided, "usage step")
        ids.setdefault(text, []).append(ident)
    return ids


def _by_rule(data: dict[str, object]) -> dict[str, dict[str, object]]:
    return {r["rule"]: r for r in data["rules"]}  # type: ignore[attr-defined,index]


def _check_numbers(data: dict[str, object]) -> None:
    rules = _by_rule(data)
    first = rules["absolute.first"]
    assert (first["hits"], first["reviewed"], first["confirmed"], first["overridden"]) == (
        7, 6, 2, 4)
    assert first["precision"] == pytest.approx(2 / 6, abs=1e-4)
    contexts = first["overridden_contexts"]
    assert [(c["context"], c["count"]) for c in contexts] == [  # type: ignore[attr-defined]
        ("第一步", 3), ("唯一第一", 1)]
    best = rules["absolute.best"]
    assert (best["hits"], best["confirmed"], best["overridden"]) == (3, 2, 1)
    assert best["precision"] == pytest.approx(2 / 3, abs=1e-4)
    phrases = best["phrases"]
    assert phrases["最佳"]["precision"] == 0.5  # type: ignore[index]
    assert phrases["最优"]["precision"] == 1.0  # type: ignore[index]
    assert best["suggestion"] is None  # one override in a context is not a pattern
    assert first["suggested_exception"] == "第一步"


def test_context_is_the_match_with_a_few_characters_either_side() -> None:
    assert context_of("第一", "全网第一步 好") == ("全网", "第一", "步")
    assert context_of("第一", "第一 ") == ("", "第一", "")
    assert context_of("第一", "ab第一cd", width=1) == ("b", "第一", "c")


def test_rule_stats_know_the_precision_and_the_exception_silences_only_that_context(
    store: Store, rule_dir: Path, tmp_path: Path
) -> None:
    ruleset = load_ruleset(rule_dir)
    ids = _seed(store, ruleset)
    stats = rule_stats(store, ruleset)
    data = stats.to_dict()
    assert data["submissions"] == 10 and data["reviewed"] == 9
    _check_numbers(data)
    suggestion = _by_rule(data)["absolute.first"]["suggestion"]
    assert isinstance(suggestion, str)
    pasted = yaml.safe_load(suggestion)  # the comments say where; the YAML is the rule
    assert pasted == [{"id": "absolute.first", "exceptions": ["第一步"]}]
    # A rule editor pastes it into the rule's file ...
    candidate = tmp_path / "candidate"
    candidate.mkdir()
    (candidate / "categories.yaml").write_text(CATEGORIES, encoding="utf-8")
    (candidate / "rules.yaml").write_text(
        RULES.replace("    phrases: [第一]\n", "    phrases: [第一]\n    exceptions: [第一步]\n"),
        encoding="utf-8")
    # ... and the dry run clears exactly the three overridden 第一步 ads, nothing else.
    diff = diff_rules(store, load_ruleset(candidate))
    assert diff.examined == 10 and diff.unchanged == 7
    assert {e.submission for e in diff.cleared.examples} == set(ids["第一步 先洁面"]
                                                                 + ids["第一步 再补水"]
                                                                 + ids["第一步 轻拍"])
    assert diff.cleared.count == 3 and diff.changed.count == 0
    assert diff.newly_flagged.count == 0 and diff.evidence_changed.count == 0
    assert diff.rules["absolute.first"].removed == 3 and diff.rules["absolute.first"].added == 0


def test_the_command_prints_the_table_the_json_and_the_suggestion(
    store: Store, rule_dir: Path, settings: Settings
) -> None:
    from worker.cli import app

    _seed(store, load_ruleset(rule_dir))
    runner = CliRunner()
    args = ["--db", settings.database_url, "--rules", str(rule_dir)]
    out = runner.invoke(app, ["rules", "stats", "--json", *args])
    assert out.exit_code == 0, out.output
    _check_numbers(json.loads(out.stdout))
    table = runner.invoke(app, ["rules", "stats", *args], env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "absolute.first" in table.stdout and "33%" in table.stdout
    assert "exceptions: [第一步]" in table.stdout
    later = runner.invoke(app, ["rules", "stats", "--json", "--since", "2099-01-01", *args])
    assert json.loads(later.stdout)["rules"] == []


@pytest.fixture
def editor_client(settings: Settings, store: Store, rule_dir: Path) -> Iterator[TestClient]:
    ruled = settings.model_copy(update={"rules_dir": rule_dir})
    with TestClient(create_app(ruled, cors_origins=[])) as client:
        yield client


def test_the_api_gives_rule_stats_and_diffs_candidates_for_rule_editors_only(
    editor_client: TestClient, store: Store, keys: dict[str, str], rule_dir: Path
) -> None:
    ids = _seed(store, load_ruleset(rule_dir))
    editor = auth(keys["rule-editor"])
    answer = editor_client.get("/v1/rules/stats", headers=editor)
    assert answer.status_code == 200, answer.text
    _check_numbers(answer.json())
    assert editor_client.get("/v1/rules/stats", headers=auth(keys["producer"])
                             ).status_code == 403
    pasted = RULES.replace("    phrases: [第一]\n",
                           "    phrases: [第一]\n    exceptions: [第一步]\n")
    diff = editor_client.post("/v1/rules/diff", headers=editor,
                              json={"files": {"rules.yaml": pasted}})
    assert diff.status_code == 200, diff.text
    body = diff.json()
    assert body["cleared"]["count"] == 3 and body["unchanged"] == 7
    assert {e["submission"] for e in body["cleared"]["examples"]} == set(
        ids["第一步 先洁面"] + ids["第一步 再补水"] + ids["第一步 轻拍"])
    broken = editor_client.post("/v1/rules/diff", headers=editor,
                                json={"files": {"rules.yaml": "rules: [{id: 1}]"}})
    assert broken.status_code == 422 and broken.json()["error"]["code"] == "invalid_rules"
    assert str(rule_dir) not in broken.text
    for name in ("../x.yaml", "/etc/x.yaml", "rules.txt"):
        bad = editor_client.post("/v1/rules/diff", headers=editor,
                                 json={"files": {name: pasted}})
        assert bad.status_code == 422, name
    assert editor_client.post("/v1/rules/diff", headers=auth(keys["reviewer"]),
                              json={"files": {}}).status_code == 403


def test_the_api_process_reloads_edited_rules(
    editor_client: TestClient, keys: dict[str, str], rule_dir: Path
) -> None:
    editor = auth(keys["rule-editor"])
    first = editor_client.post("/v1/rules/test", headers=editor, json={"text": "今日爆款"})
    assert first.json()["decision"] == "pass"
    (rule_dir / "promo.yaml").write_text(
        "rules:\n  - id: absolute.hot\n    category: absolute\n    severity: review\n"
        "    phrases: [爆款]\n", encoding="utf-8")
    again = editor_client.post("/v1/rules/test", headers=editor, json={"text": "今日爆款"})
    assert again.json()["decision"] == "review"


def test_the_console_shows_rule_stats_and_the_suggestion(
    editor_client: TestClient, store: Store, keys: dict[str, str], rule_dir: Path
) -> None:
    _seed(store, load_ruleset(rule_dir))
    form = editor_client.get("/review/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
    assert csrf is not None
    editor_client.post("/review/login", data={"key": keys["reviewer"], "csrf": csrf.group(1)})
    page = editor_client.get("/review/rules")
    assert page.status_code == 200
    assert 'data-rule="absolute.first"' in page.text and "33%" in page.text
    assert "exceptions: [第一步]" in page.text


def test_a_rule_diff_that_runs_past_its_time_stops_with_a_422_naming_the_way_out(
    editor_client: TestClient, store: Store, keys: dict[str, str], rule_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from worker.api.routes import rules as rule_routes

    _seed(store, load_ruleset(rule_dir))
    monkeypatch.setattr(rule_routes, "RULES_DIFF_SECONDS", -1.0)  # already past
    answer = editor_client.post("/v1/rules/diff", headers=auth(keys["rule-editor"]),
                                json={"files": {"rules.yaml": RULES}})
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "diff_too_large"
    assert "judged 10 stored ads" in error["message"] and "`limit`" in error["message"]
