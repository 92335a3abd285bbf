"""RuleSet.version is a content hash, independent of layout."""

from __future__ import annotations

from pathlib import Path

from rules import load_ruleset
from tests.conftest import SMALL_RULES, RuleDir

REORDERED = """
rules:
  - {id: guarantee.off, category: guarantee, severity: reject, phrases: [稳赚不赔], enabled: false}
  - id: medical.cure
    severity: reject
    category: medical
    phrases: [根治, 无副作用]
  - {id: guarantee.refund, category: guarantee, severity: reject, phrases: [无效退款], patterns: ['\\d+%有效']}
  - {id: absolute.preferred, category: absolute, severity: review, phrases: [首选], exceptions: [首选项]}
  - id: absolute.best
    category: absolute
    severity: reject
    phrases: [最佳, 最好, 国家级]
    exceptions: [最好在]
"""
FIRST_ONLY = SMALL_RULES.split("  - id: absolute.best")[0]


def test_version_is_stable_across_file_split_order_and_whitespace(
    rule_dir: RuleDir, tmp_path: Path
) -> None:
    one = load_ruleset(rule_dir({"rules.yaml": SMALL_RULES})).version
    other = tmp_path / "other"
    other.mkdir()
    (other / "z-categories.yaml").write_text((rule_dir() / "categories.yaml").read_text("utf-8"))
    (other / "a.yaml").write_text(REORDERED, encoding="utf-8")
    (other / "b.yaml").write_text(FIRST_ONLY, encoding="utf-8")
    assert load_ruleset(other).version == one


def test_version_changes_when_a_phrase_changes(rule_dir: RuleDir) -> None:
    before = load_ruleset(rule_dir({"rules.yaml": SMALL_RULES})).version
    after = load_ruleset(rule_dir({"rules.yaml": SMALL_RULES.replace("根治", "根除")})).version
    assert before != after
