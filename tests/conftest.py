"""Fixtures shared by the whole suite."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

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
