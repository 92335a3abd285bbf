"""Fixtures for rule-engine tests: small rule folders written into a temp dir."""

from __future__ import annotations

import pytest

from rules import RuleSet, load_ruleset
from tests.conftest import CATEGORIES, RuleDir

__all__ = ["CATEGORIES", "SMALL_RULES", "RuleDir"]

SMALL_RULES = """
rules:
  - id: absolute.first
    category: absolute
    severity: reject
    phrases: [全网第一, 销量第一, 第一, NO.1]
    patterns: ['(?:no|top)1', '第1(?:名|品牌)?']
    exceptions: [第一步, 第一次, 第一时间, 第一季度, 第一届, 第一页, 第1步]
  - id: absolute.best
    category: absolute
    severity: reject
    phrases: [最佳, 最好, 国家级]
    exceptions: [最好在]
  - id: absolute.preferred
    category: absolute
    severity: review
    phrases: [首选]
    exceptions: [首选项]
  - id: medical.cure
    category: medical
    severity: reject
    phrases: [根治, 无副作用]
  - id: guarantee.refund
    category: guarantee
    severity: reject
    phrases: [无效退款]
    patterns: ['\\d+%有效']
  - id: guarantee.off
    category: guarantee
    severity: reject
    phrases: [稳赚不赔]
    enabled: false
"""


@pytest.fixture
def small(rule_dir: RuleDir) -> RuleSet:
    """A compact rule set covering every feature of the format."""
    return load_ruleset(rule_dir({"rules.yaml": SMALL_RULES}))
