"""Industry scoping: a rule may be limited to, or exempt in, the industries a file declares."""

from __future__ import annotations

import pytest

from rules import load_ruleset
from rules.engine import UnknownIndustry
from tests.conftest import RuleDir
from worker.errors import RuleError

INDUSTRIES = """
industries:
  - id: medical
    name: 医疗
  - id: cosmetics
    name: 化妆品
  - id: finance
    name: 金融投资
"""

RULES = """
rules:
  - id: medical.treat
    category: medical
    severity: review
    phrases: [治疗]
    exempt_industries: [medical]
  - id: guarantee.capital
    category: guarantee
    severity: reject
    phrases: [保本]
    industries: [finance]
  - id: medical.cure
    category: medical
    severity: reject
    phrases: [根治]
"""


def rules_in(rule_dir: RuleDir, extra: str = RULES):
    return load_ruleset(rule_dir({"industries.yaml": INDUSTRIES, "rules.yaml": extra}))


def test_when_no_industry_is_declared_then_every_rule_applies(rule_dir: RuleDir) -> None:
    ruleset = rules_in(rule_dir)
    fired = {m.rule for m in ruleset.match("治疗 保本 根治")}
    assert fired == {"medical.treat", "guarantee.capital", "medical.cure"}


def test_when_an_ad_is_of_an_exempt_industry_then_the_rule_is_skipped(rule_dir: RuleDir) -> None:
    ruleset = rules_in(rule_dir)
    assert {m.rule for m in ruleset.match("治疗 根治", "medical")} == {"medical.cure"}
    assert {m.rule for m in ruleset.match("治疗 根治", "cosmetics")} == {
        "medical.treat", "medical.cure"}


def test_when_a_rule_is_limited_to_industries_then_other_industries_skip_it(
    rule_dir: RuleDir,
) -> None:
    ruleset = rules_in(rule_dir)
    assert ruleset.judge("保本", "finance").decision.value == "reject"
    assert ruleset.judge("保本", "cosmetics").decision.value == "pass"


def test_when_an_ad_declares_an_unknown_industry_then_matching_refuses_it(
    rule_dir: RuleDir,
) -> None:
    ruleset = rules_in(rule_dir)
    with pytest.raises(UnknownIndustry, match="unknown industry 'toys'; known: cosmetics, finance, medical"):
        ruleset.judge("根治", "toys")
    assert set(ruleset.industries) == {"medical", "cosmetics", "finance"}


def test_when_a_rule_names_an_undeclared_industry_then_loading_says_where(
    rule_dir: RuleDir,
) -> None:
    bad = RULES.replace("industries: [finance]", "industries: [finanse]")
    with pytest.raises(RuleError) as caught:
        rules_in(rule_dir, bad)
    (problem,) = caught.value.problems
    assert problem.file.endswith("rules.yaml") and problem.line == 12
    assert "unknown industry 'finanse' (known: cosmetics, finance, medical)" in problem.message


def test_when_an_industry_is_declared_twice_then_loading_says_where_first(
    rule_dir: RuleDir,
) -> None:
    folder = rule_dir({"industries.yaml": INDUSTRIES, "more.yaml": INDUSTRIES, "rules.yaml": RULES})
    with pytest.raises(RuleError, match="duplicate industry id 'medical'"):
        load_ruleset(folder)


def test_when_a_rule_is_both_limited_to_and_exempt_in_an_industry_then_loading_refuses(
    rule_dir: RuleDir,
) -> None:
    bad = RULES.replace("industries: [finance]", "industries: [finance]\n    exempt_industries: [finance]")
    with pytest.raises(RuleError, match="finance both limited to and exempt"):
        rules_in(rule_dir, bad)


def test_industry_scoping_changes_the_rule_set_version(rule_dir: RuleDir) -> None:
    scoped = rules_in(rule_dir)
    unscoped = rules_in(rule_dir, RULES.replace("    industries: [finance]\n", ""))
    assert scoped.version != unscoped.version
