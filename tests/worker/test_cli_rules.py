"""`adreview rules ...`: the rule editors' command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.conftest import SMALL_RULES, RuleDir
from worker.cli import app

runner = CliRunner()


def test_rules_check_on_a_good_folder_prints_one_summary_line(rule_dir: RuleDir) -> None:
    result = runner.invoke(app, ["rules", "check", str(rule_dir({"r.yaml": SMALL_RULES}))])
    assert result.exit_code == 0, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith("ok: 6 rules (5 enabled) in 3 categories, 11 phrases, 3 patterns")


def test_rules_check_on_a_bad_folder_lists_every_problem_and_exits_1(rule_dir: RuleDir) -> None:
    folder = rule_dir(
        {
            "a.yaml": "rules:\n  - {id: a.b, category: nope, severity: reject, phrases: [x]}\n",
            "b.yaml": "rules:\n  - {id: c.d, category: absolute, severity: maybe, phrases: [y]}\n",
        }
    )
    result = runner.invoke(app, ["rules", "check", str(folder)])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert (
        lines[0]
        == f"{folder / 'a.yaml'}:2: rule 'a.b': unknown category 'nope' (known: absolute, guarantee, medical)"
    )
    assert (
        lines[1] == f"{folder / 'b.yaml'}:2: severity: 'maybe' is not one of 'reject' or 'review'"
    )
    assert lines[2] == f"2 problem(s) in {folder}"


def test_rules_test_json_follows_the_contract(rule_dir: RuleDir) -> None:
    folder = rule_dir({"r.yaml": SMALL_RULES})
    result = runner.invoke(
        app, ["rules", "test", "--rules", str(folder), "--json", "全 网 第 一，第一步"]
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {
        "decision": "reject",
        "matches": [
            {
                "rule": "absolute.first",
                "category": "absolute",
                "severity": "reject",
                "phrase": "全网第一",
                "text": "全 网 第 一",
            }
        ],
    }


def test_rules_test_reads_a_text_file(rule_dir: RuleDir, tmp_path: Path) -> None:
    text_file = tmp_path / "ad.txt"
    text_file.write_text("送礼首选\n", encoding="utf-8")
    folder = rule_dir({"r.yaml": SMALL_RULES})
    result = runner.invoke(
        app, ["rules", "test", "--rules", str(folder), "--json", "--file", str(text_file)]
    )
    assert json.loads(result.stdout)["decision"] == "review"


def test_rules_test_without_text_is_a_usage_error(rule_dir: RuleDir) -> None:
    result = runner.invoke(
        app, ["rules", "test", "--rules", str(rule_dir({"r.yaml": SMALL_RULES}))]
    )
    assert result.exit_code == 2
    assert "give either TEXT or --file PATH" in result.output


def test_rules_list_shows_a_table_per_category(rule_dir: RuleDir) -> None:
    result = runner.invoke(
        app, ["rules", "list", "--rules", str(rule_dir({"r.yaml": SMALL_RULES}))]
    )
    assert result.exit_code == 0, result.output
    for title in ("绝对化用语 (absolute)", "医疗功效 (medical)", "保证承诺 (guarantee)"):
        assert title in result.stdout
    assert "absolute.first" in result.stdout and "guarantee.off" in result.stdout


def test_a_broken_rule_folder_gives_one_line_per_problem_and_no_traceback(
    rule_dir: RuleDir,
) -> None:
    folder = rule_dir({"bad.yaml": "rules: [\n"})
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "adreview"),
            "rules",
            "test",
            "--rules",
            str(folder),
            "x",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stderr.startswith(f"error: {folder / 'bad.yaml'}:")
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("text", "threshold", "status"),
    [
        ("全 网 第 一", "reject", 1),
        ("全 网 第 一", "review", 1),
        ("送礼首选", "reject", 0),
        ("送礼首选", "review", 1),
        ("纯棉T恤", "review", 0),
        ("第一步 打开包装", "review", 0),
    ],
)
def test_rules_test_fail_on_exits_1_at_or_above_the_threshold(
    rule_dir: RuleDir, text: str, threshold: str, status: int
) -> None:
    folder = rule_dir({"r.yaml": SMALL_RULES})
    for output in ([], ["--json"]):
        result = runner.invoke(
            app, ["rules", "test", "--rules", str(folder), *output, "--fail-on", threshold, text]
        )
        assert result.exit_code == status, result.output
        assert result.stdout  # the decision is printed either way


def test_rules_test_fail_on_exits_2_for_a_usage_error_or_a_rule_set_that_does_not_load(
    rule_dir: RuleDir, tmp_path: Path
) -> None:
    good = rule_dir({"r.yaml": SMALL_RULES})
    wrong = runner.invoke(app, ["rules", "test", "--rules", str(good), "--fail-on", "pass", "x"])
    assert wrong.exit_code == 2
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "bad.yaml").write_text("rules: [\n", encoding="utf-8")
    result = runner.invoke(app, ["rules", "test", "--rules", str(broken), "--fail-on",
                                 "reject", "全网第一"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: {broken / 'bad.yaml'}:")
    # Without --fail-on a rule set that does not load still fails as it did (exit 1).
    assert runner.invoke(app, ["rules", "test", "--rules", str(broken), "x"]).exit_code != 0


def test_rules_check_reports_the_problems_of_every_file_in_one_pass(rule_dir: RuleDir) -> None:
    folder = rule_dir(
        {
            "a.yaml": "rules:\n  - {id: a.b, category: absolute, severity: maybe, phrases: [x]}\n"
                      "  - {id: a.c, category: absolute, severity: reject, patterns: ['(']}\n",
            "b.yaml": "rules:\n  - {id: a.c, category: medical, severity: reject, phrases: [y]}\n",
        }
    )
    result = runner.invoke(app, ["rules", "check", str(folder)])
    assert result.exit_code == 1
    a, b = folder / "a.yaml", folder / "b.yaml"
    assert result.stderr.splitlines() == [
        f"{a}:2: severity: 'maybe' is not one of 'reject' or 'review'",
        f"{a}:3: rule 'a.c': pattern '(' does not compile: missing ): (",
        f"{b}:2: duplicate rule id 'a.c' (first defined at {a}:3)",
        f"3 problem(s) in {folder}",
    ]


def test_version_and_short_help() -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert (result.exit_code, result.stdout) == (0, f"adreview {version('adreview')}\n")
    for args in (["-h"], ["scan", "-h"], ["submit", "-h"], ["rules", "test", "-h"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0, args
        assert "Usage:" in result.stdout and "--help" in result.stdout


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    assert "rules" in result.stdout


def test_rules_check_reports_every_kind_of_problem_in_one_run(rule_dir: RuleDir) -> None:
    # A schema error, a bad regular expression in the same rule, an unknown category, an
    # exception that can never excuse a hit, a duplicate id and a bad regex elsewhere:
    # fixing the first ones must not reveal more.
    folder = rule_dir({"a.yaml": (
        "rules:\n"
        "  - {id: a.one, category: absolute, severity: rejectt, phrases: [x], patterns: ['最(佳']}\n"
        "  - {id: a.two, category: absolut, severity: reject, phrases: [销量第一], exceptions: [第一步]}\n"
        "  - {id: a.two, category: absolute, severity: reject, phrases: [顶级], patterns: ['最(?:好']}\n"
    )})
    result = runner.invoke(app, ["rules", "check", str(folder)])
    assert result.exit_code == 1
    a = folder / "a.yaml"
    assert result.stderr.splitlines() == [
        f"{a}:2: severity: 'rejectt' is not one of 'reject' or 'review'",
        f"{a}:2: rule 'a.one': pattern '最(佳' does not compile: missing ): 最(佳",
        f"{a}:3: rule 'a.two': unknown category 'absolut' (known: absolute, guarantee, medical)",
        f"{a}:3: rule 'a.two': exception '第一步' contains none of the rule's phrases or "
        "patterns, so it can never excuse a hit",
        f"{a}:4: rule 'a.two': pattern '最(?:好' does not compile: missing ): 最(?:好",
        f"{a}:4: duplicate rule id 'a.two' (first defined at {a}:3)",
        f"6 problem(s) in {folder}",
    ]


def test_an_exception_on_a_pattern_that_does_not_compile_is_not_reported_as_well(
    rule_dir: RuleDir,
) -> None:
    folder = rule_dir({"a.yaml": (
        "rules:\n"
        "  - {id: a.one, category: absolute, severity: reject, patterns: ['最(佳'],"
        " exceptions: [最佳时间]}\n"
    )})
    result = runner.invoke(app, ["rules", "check", str(folder)])
    assert result.stderr.splitlines() == [
        f"{folder / 'a.yaml'}:2: rule 'a.one': pattern '最(佳' does not compile: missing ): 最(佳",
        f"1 problem(s) in {folder}",
    ]


def test_rules_init_copies_the_shipped_set_and_prints_the_line_that_uses_it(
    tmp_path: Path,
) -> None:
    from worker.settings import SHIPPED_RULES_DIR

    target = tmp_path / "mine"
    result = runner.invoke(app, ["rules", "init", str(target)])
    again = runner.invoke(app, ["rules", "init", str(target)])

    assert result.exit_code == 0, result.output
    assert result.stdout == f"export ADREVIEW_RULES_DIR={target}\n"
    assert sorted(p.name for p in target.glob("*.yaml")) == \
        sorted(p.name for p in SHIPPED_RULES_DIR.glob("*.yaml"))
    assert (target / "rules.schema.json").is_file()
    checked = runner.invoke(app, ["rules", "check", str(target)])
    shipped = runner.invoke(app, ["rules", "check", str(SHIPPED_RULES_DIR)])
    assert checked.stdout.split(", in ")[0] == shipped.stdout.split(", in ")[0]
    assert again.exit_code == 2
    assert "exists and is not an empty folder" in " ".join(again.output.replace("│", " ").split())


def test_every_command_help_is_plain_wrapped_text_without_type_tags_on_flags() -> None:
    import typer.main

    group = typer.main.get_command(app)
    paths: list[list[str]] = [[]]
    for name, command in group.commands.items():  # type: ignore[attr-defined]
        paths.append([name])
        paths += [[name, sub] for sub in getattr(command, "commands", {})]
    for path in paths:
        result = runner.invoke(app, [*path, "-h"], env={"COLUMNS": "80"})
        assert result.exit_code == 0, path
        assert result.stdout.startswith("Usage: adreview"), path
        assert "<bool>" not in result.stdout and "``" not in result.stdout, path
        assert max(len(line) for line in result.stdout.splitlines()) <= 80, path
    assert len(paths) > 20


def test_rules_check_names_the_alias_or_the_limit_a_folder_hits(
    rule_dir: RuleDir, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rules import loader
    from tests.rules.test_loader import alias_bomb

    folder = rule_dir({"bomb.yaml": alias_bomb(9)})
    result = runner.invoke(app, ["rules", "check", str(folder)])
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[0] == (
        f"{folder / 'bomb.yaml'}:2: YAML alias *a0 (anchored at line 1): aliases and merge "
        "keys are not allowed in rule files; write the values out")
    (folder / "bomb.yaml").write_text(SMALL_RULES, encoding="utf-8")
    monkeypatch.setattr(loader, "MAX_RULES", 2)
    result = runner.invoke(app, ["rules", "check", str(folder)])
    assert result.exit_code == 1
    assert "the rule set has 6 rules, over the limit of 2 (MAX_RULES)" in result.stderr
