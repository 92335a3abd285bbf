"""Fixtures shared by the whole suite."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from rules import RuleSet, load_ruleset

CATEGORIES = """
categories:
  - id: absolute
    name: 绝对化用语
  - id: medical
    name: 医疗功效
  - id: guarantee
    name: 保证承诺
"""

RuleDir = Callable[..., Path]


@pytest.fixture
def rule_dir(tmp_path: Path) -> RuleDir:
    """Write YAML files (name -> text, dedented) into a fresh folder and return it."""

    def write(files: dict[str, str] | None = None, *, categories: bool = True) -> Path:
        folder = tmp_path / "rules"
        folder.mkdir(exist_ok=True)
        if categories:
            (folder / "categories.yaml").write_text(CATEGORIES, encoding="utf-8")
        for name, text in (files or {}).items():
            (folder / name).write_text(textwrap.dedent(text), encoding="utf-8")
        return folder

    return write


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
