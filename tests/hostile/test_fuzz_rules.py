"""Fuzzing the rule loader: whatever a rule editor writes, loading either succeeds or
raises RuleError with located problems; nothing else escapes."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import RuleSet, load_ruleset
from tests.conftest import CATEGORIES
from worker.errors import RuleError

SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
    st.text(max_size=12), st.sampled_from(["reject", "review", "absolute", "全网第一", "第一步",
                                           "(?:no|top)1", "(", "\\p{Han}", "[", "", " "]),
)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)
RULE = st.fixed_dictionaries(
    {},
    optional={
        "id": st.one_of(st.sampled_from(["a.b", "absolute.first", "Bad Id", ""]), VALUES),
        "category": st.one_of(st.sampled_from(["absolute", "medical", "nope"]), VALUES),
        "severity": st.one_of(st.sampled_from(["reject", "review", "maybe"]), VALUES),
        "phrases": st.one_of(st.lists(st.text(max_size=6), max_size=4), VALUES),
        "patterns": st.one_of(st.lists(st.sampled_from(["(?:no|top)1", "(", "a*", "第\\d+",
                                                        "(?P<x>a)(?P=x)", "\\p{Han}+"]),
                                       max_size=3), VALUES),
        "exceptions": st.one_of(st.lists(st.text(max_size=6), max_size=3), VALUES),
        "enabled": VALUES,
        "surprise": VALUES,
    },
)


def load(files: dict[str, str]) -> RuleSet | RuleError:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "categories.yaml").write_text(CATEGORIES, encoding="utf-8")
        for name, text in files.items():
            (folder / name).write_text(text, encoding="utf-8")
        try:
            return load_ruleset(folder)
        except RuleError as exc:
            return exc


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rules=st.lists(RULE, max_size=4))
def test_structured_rule_files_load_or_fail_with_located_problems(rules: list[dict[str, object]]) -> None:
    outcome = load({"r.yaml": yaml.safe_dump({"rules": rules}, allow_unicode=True)})
    if isinstance(outcome, RuleError):
        assert outcome.problems
        # Located at a file (with its line where one applies) or at the folder as a whole.
        assert all(p.message and (p.file.endswith(".yaml") or p.line is None)
                   for p in outcome.problems)
    else:
        assert len(outcome.rules) == len(rules)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=300))
def test_arbitrary_text_as_a_rule_file_never_escapes_rule_error(text: str) -> None:
    outcome = load({"r.yaml": text})
    assert isinstance(outcome, RuleSet | RuleError)
    if isinstance(outcome, RuleError):
        assert outcome.problems


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200))
def test_arbitrary_bytes_as_a_rule_file_never_escape_rule_error(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "categories.yaml").write_text(CATEGORIES, encoding="utf-8")
        (folder / "r.yaml").write_bytes(data)
        try:
            load_ruleset(folder)
        except RuleError as exc:
            assert exc.problems
