"""Loading reports every problem as ``file:line: what is wrong``."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from rules import load_ruleset, loader
from tests.conftest import SMALL_RULES, RuleDir
from worker.errors import RuleError


def problems_of(folder: Path) -> list[str]:
    with pytest.raises(RuleError) as caught:
        load_ruleset(folder)
    return [str(p) for p in caught.value.problems]


def one_problem(rule_dir: RuleDir, text: str) -> str:
    folder = rule_dir({"bad.yaml": text})
    (problem,) = problems_of(folder)
    prefix = f"{folder / 'bad.yaml'}:"
    assert problem.startswith(prefix), problem
    return problem.removeprefix(prefix)


def test_invalid_yaml_is_reported_with_its_line(rule_dir: RuleDir) -> None:
    problem = one_problem(rule_dir, "rules:\n  - id: a\n    phrases: [unclosed\n")
    assert problem.startswith("4: invalid YAML") or problem.startswith("3: invalid YAML")


def test_unknown_key_is_reported_at_its_rule(rule_dir: RuleDir) -> None:
    problem = one_problem(
        rule_dir,
        """
        rules:
          - id: a.b
            category: absolute
            severity: reject
            phrases: [最佳]
            phrase: [typo]
        """,
    )
    assert problem == "7: unknown key 'phrase'"


def test_missing_field_is_reported(rule_dir: RuleDir) -> None:
    problem = one_problem(
        rule_dir,
        """
        rules:
          - id: a.b
            category: absolute
            phrases: [最佳]
        """,
    )
    assert problem == "3: missing field 'severity'"


def test_unknown_severity_lists_the_valid_ones(rule_dir: RuleDir) -> None:
    problem = one_problem(
        rule_dir,
        """
        rules:
          - id: a.b
            category: absolute
            severity: block
            phrases: [最佳]
        """,
    )
    assert problem == "5: severity: 'block' is not one of 'reject' or 'review'"


def test_unknown_category_lists_the_declared_ones(rule_dir: RuleDir) -> None:
    problem = one_problem(
        rule_dir,
        """
        rules:
          - id: a.b
            category: politics
            severity: reject
            phrases: [最佳]
        """,
    )
    assert problem == (
        "4: rule 'a.b': unknown category 'politics' (known: absolute, guarantee, medical)"
    )


def test_empty_phrase_is_reported_at_its_line(rule_dir: RuleDir) -> None:
    problem = one_problem(
        rule_dir,
        """
        rules:
          - id: a.b
            category: absolute
            severity: reject
            phrases:
              - 最佳
              - "  "
        """,
    )
    assert problem == "8: rule 'a.b': empty phrase"


def test_phrase_of_only_separators_is_reported(rule_dir: RuleDir) -> None:
    problem = one_problem(
        rule_dir,
        """
        rules:
          - {id: a.b, category: absolute, severity: reject, phrases: ["★·★"]}
        """,
    )
    assert problem == "3: rule 'a.b': phrase '★·★' is only separators"


def test_duplicate_rule_id_names_both_places(rule_dir: RuleDir) -> None:
    folder = rule_dir(
        {
            "a.yaml": "rules:\n  - {id: x.y, category: absolute, severity: reject, phrases: [最佳]}\n",
            "b.yaml": "rules:\n  - {id: x.y, category: medical, severity: reject, phrases: [根治]}\n",
        }
    )
    assert problems_of(folder) == [
        f"{folder / 'b.yaml'}:2: duplicate rule id 'x.y' (first defined at {folder / 'a.yaml'}:2)"
    ]


def test_duplicate_key_in_a_mapping_is_reported(rule_dir: RuleDir) -> None:
    problem = one_problem(
        rule_dir,
        """
        rules:
          - id: a.b
            category: absolute
            severity: reject
            severity: review
            phrases: [最佳]
        """,
    )
    assert problem == "6: duplicate key 'severity'"


def test_pattern_re2_cannot_compile_gives_re2s_reason(rule_dir: RuleDir) -> None:
    problem = one_problem(
        rule_dir,
        """
        rules:
          - id: a.b
            category: absolute
            severity: reject
            patterns: ['第(一']
        """,
    )
    assert problem == "6: rule 'a.b': pattern '第(一' does not compile: missing ): 第(一"


def test_pattern_re2_rejects_backreferences(rule_dir: RuleDir) -> None:
    problem = one_problem(
        rule_dir,
        """
        rules:
          - {id: a.b, category: absolute, severity: reject, patterns: ['(a)\\1']}
        """,
    )
    assert "does not compile: invalid escape sequence" in problem


def test_pattern_that_matches_empty_text_is_refused(rule_dir: RuleDir) -> None:
    problem = one_problem(
        rule_dir,
        """
        rules:
          - {id: a.b, category: absolute, severity: reject, patterns: ['(?:最佳)?']}
        """,
    )
    assert problem == "3: rule 'a.b': pattern '(?:最佳)?' matches empty text"


def test_exception_that_can_never_excuse_a_hit_is_refused(rule_dir: RuleDir) -> None:
    problem = one_problem(
        rule_dir,
        """
        rules:
          - id: a.b
            category: absolute
            severity: reject
            phrases: [第一]
            exceptions: [第一步, 最新]
        """,
    )
    assert problem == (
        "7: rule 'a.b': exception '最新' contains none of the rule's phrases or patterns, "
        "so it can never excuse a hit"
    )


def test_rule_without_phrases_or_patterns_is_refused(rule_dir: RuleDir) -> None:
    problem = one_problem(rule_dir, "rules:\n  - {id: a.b, category: absolute, severity: reject}\n")
    assert problem == "2: rule 'a.b' has neither phrases nor patterns"


def test_bad_id_is_refused(rule_dir: RuleDir) -> None:
    problem = one_problem(
        rule_dir, "rules:\n  - {id: 'Bad Id', category: absolute, severity: reject, phrases: [x]}\n"
    )
    assert problem.startswith("2: id: 'Bad Id' is not a valid id")


def test_wrong_type_is_reported(rule_dir: RuleDir) -> None:
    problem = one_problem(
        rule_dir, "rules:\n  - {id: a.b, category: absolute, severity: reject, phrases: 最佳}\n"
    )
    assert problem == "2: phrases: Input should be a valid list"


def test_top_level_must_be_a_mapping(rule_dir: RuleDir) -> None:
    assert one_problem(rule_dir, "- just\n- a list\n") == (
        "1: a rule file is a mapping with 'categories' and/or 'rules'"
    )


def test_non_utf8_file_is_reported(rule_dir: RuleDir) -> None:
    folder = rule_dir()
    (folder / "bad.yaml").write_bytes("rules: [最佳]".encode("gb18030"))
    (problem,) = problems_of(folder)
    assert problem.startswith(f"{folder / 'bad.yaml'}: not UTF-8 text")


def test_every_problem_across_files_is_reported_at_once(rule_dir: RuleDir) -> None:
    folder = rule_dir(
        {
            "a.yaml": "rules:\n  - {id: a.b, category: nope, severity: reject, phrases: [x]}\n",
            "b.yaml": "rules: [\n",
            "c.yaml": "rules:\n  - {id: c.d, category: absolute, severity: maybe, phrases: [y]}\n",
        }
    )
    problems = problems_of(folder)
    assert len(problems) == 3
    assert [p.split(":")[0] for p in problems] == [
        str(folder / "a.yaml"),
        str(folder / "b.yaml"),
        str(folder / "c.yaml"),
    ]


def test_a_file_that_fails_validation_still_gets_the_cross_file_and_semantic_checks(
    rule_dir: RuleDir,
) -> None:
    folder = rule_dir(
        {
            "a.yaml": """\
                industries:
                  - {id: finance, name: 金融}
                rules:
                  - {id: a.one, category: absolute, severity: maybe, phrases: [最佳]}
                  - {id: a.two, category: absolute, severity: reject, patterns: ['(']}
                  - {id: a.three, category: nope, severity: reject, phrases: [国家级]}
                  - {id: a.four, category: absolute, severity: reject, phrases: [顶级],
                     industries: [finance, farming]}
                """,
            # Declared in a file that fails validation: still declared for the others.
            "b.yaml": """\
                categories:
                  - {id: finance_claims}
                rules:
                  - {id: b.one, category: finance_claims, severity: reject, phrases: [稳赚]}
                  - {id: a.two, category: medical, severity: reject, phrases: [根治]}
                """,
            "c.yaml": "rules:\n  - {id: c.one, category: medical, severity: reject, "
                      "phrases: [x], exceptions: [y]}\n",
        },
    )
    a, b, c = (str(folder / name) for name in ("a.yaml", "b.yaml", "c.yaml"))
    assert problems_of(folder) == [
        f"{a}:4: severity: 'maybe' is not one of 'reject' or 'review'",
        f"{a}:5: rule 'a.two': pattern '(' does not compile: missing ): (",
        f"{a}:6: rule 'a.three': unknown category 'nope' (known: absolute, finance_claims, "
        "guarantee, medical)",
        f"{a}:8: rule 'a.four': unknown industry 'farming' (known: finance)",
        f"{b}:2: missing field 'name'",
        f"{b}:5: duplicate rule id 'a.two' (first defined at {a}:5)",
        f"{c}:2: rule 'c.one': exception 'y' contains none of the rule's phrases or "
        "patterns, so it can never excuse a hit",
    ]


def test_missing_folder_and_empty_folder_are_refused(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nope") == [f"{tmp_path / 'nope'}: rule folder not found"]
    assert problems_of(tmp_path) == [f"{tmp_path}: no rule files (*.yaml, *.yml) found"]


def test_disabled_rules_are_still_validated(rule_dir: RuleDir) -> None:
    problem = one_problem(
        rule_dir,
        "rules:\n  - {id: a.b, category: absolute, severity: reject, patterns: ['('], "
        "enabled: false}\n",
    )
    assert "does not compile" in problem


def test_control_characters_in_a_rule_file_are_a_located_yaml_problem(rule_dir: RuleDir) -> None:
    folder = rule_dir({"bad.yaml": "rules:\n  - id: a\x00b\n"})
    with pytest.raises(RuleError) as caught:
        load_ruleset(folder)
    (problem,) = caught.value.problems
    assert problem.file.endswith("bad.yaml")
    assert problem.message.startswith("invalid YAML")


def alias_bomb(depth: int) -> str:
    """A few hundred bytes of nested aliases standing for 9**depth strings."""
    lines = ['a0: &a0 ["x","x","x","x","x","x","x","x","x"]']
    for i in range(1, depth + 1):
        lines.append(f"a{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_at_the_alias_in_milliseconds(rule_dir: RuleDir) -> None:
    text = alias_bomb(9)  # 9**9 strings once expanded
    assert len(text) < 500
    started = time.perf_counter()
    problem = one_problem(rule_dir, text)
    assert time.perf_counter() - started < 1.0
    assert problem == ("2: YAML alias *a0 (anchored at line 1): aliases and merge keys are "
                       "not allowed in rule files; write the values out")


def test_a_merge_key_is_an_alias_and_is_refused(rule_dir: RuleDir) -> None:
    problem = one_problem(rule_dir, """
        base: &base {category: absolute, severity: reject}
        rules:
          - <<: *base
            id: a.b
            phrases: [x]
        """)
    assert problem.startswith("4: YAML alias *base (anchored at line 2)"), problem


def test_an_anchor_used_once_is_plain_yaml(rule_dir: RuleDir) -> None:
    folder = rule_dir({"r.yaml": """
        rules:
          - &first {id: a.b, category: absolute, severity: reject, phrases: [全网第一]}
        """})
    assert [r.spec.id for r in load_ruleset(folder).rules] == ["a.b"]


def test_a_rule_file_over_the_size_limit_is_refused_before_it_is_read(
    rule_dir: RuleDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = rule_dir({"big.yaml": "rules: []\n" + "# padding\n" * 200})
    limit = (folder / "categories.yaml").stat().st_size
    monkeypatch.setattr(loader, "MAX_RULE_FILE_BYTES", limit)
    assert problems_of(folder) == [
        f"{folder / 'big.yaml'}: the file is 2,010 bytes, over the limit of {limit:,} bytes "
        "for a rule file (MAX_RULE_FILE_BYTES)"]


def test_a_file_of_too_many_values_is_refused(
    rule_dir: RuleDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "MAX_YAML_NODES", 50)
    problem = one_problem(rule_dir, "x: [" + ", ".join(["a"] * 60) + "]\n")
    assert problem == " the file holds more than 50 YAML values (MAX_YAML_NODES)"


def test_a_rule_set_over_the_rule_count_limit_is_refused(
    rule_dir: RuleDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(loader, "MAX_RULES", 3)
    rules = "".join(f"  - {{id: a.r{i}, category: absolute, severity: reject, "
                    f"phrases: [第{i}名]}}\n" for i in range(4))
    folder = rule_dir({"r.yaml": "rules:\n" + rules})
    assert problems_of(folder) == [
        f"{folder}: the rule set has 4 rules, over the limit of 3 (MAX_RULES)"]


def test_a_folder_of_too_many_files_or_bytes_is_refused(
    rule_dir: RuleDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = rule_dir({"r.yaml": SMALL_RULES})
    monkeypatch.setattr(loader, "MAX_RULE_FILES", 1)
    assert problems_of(folder) == [
        f"{folder}: 2 rule files, over the limit of 1 (MAX_RULE_FILES)"]
    monkeypatch.setattr(loader, "MAX_RULE_FILES", 10)
    monkeypatch.setattr(loader, "MAX_FOLDER_BYTES", 1000)
    (problem,) = problems_of(folder)
    assert problem.startswith(f"{folder}: the rule files hold ")
    assert problem.endswith("bytes, over the limit of 1,000 (MAX_FOLDER_BYTES)")
