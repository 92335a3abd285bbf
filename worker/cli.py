"""The ``adreview`` command line.

User mistakes (a bad rule file, a missing path, an unknown engine) print one clear line
on stderr and exit non-zero; tracebacks are kept for real bugs.
"""

from __future__ import annotations

import json
import logging
import sys
from collections import defaultdict
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from worker.errors import AdreviewError, RuleError
from worker.settings import get_settings

app = typer.Typer(
    name="adreview",
    help="Ad-image compliance review: OCR ad images and flag banned advertising claims.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
rules_app = typer.Typer(
    help="Check, test and list the banned-phrase rule set.", no_args_is_help=True
)
app.add_typer(rules_app, name="rules")

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)

RulesDir = Annotated[
    Path | None,
    typer.Option("--rules", help="Rule folder (default: $ADREVIEW_RULES_DIR or the shipped set)."),
]


def _rules_dir(option: Path | None) -> Path:
    return option if option is not None else get_settings().rules_dir


@rules_app.command("check")
def rules_check(
    directory: Annotated[Path | None, typer.Argument(help="Rule folder to validate.")] = None,
) -> None:
    """Validate a rule folder: exit 0 with a summary, or 1 with every problem found."""
    from rules import load_ruleset

    folder = _rules_dir(directory)
    try:
        ruleset = load_ruleset(folder)
    except RuleError as exc:
        for problem in exc.problems:
            stderr.print(str(problem), markup=False, highlight=False)
        stderr.print(f"{len(exc.problems)} problem(s) in {folder}", markup=False)
        raise typer.Exit(1) from None
    enabled = ruleset.enabled_rules
    phrases = sum(len(r.phrases) for r in enabled)
    patterns = sum(len(r.patterns) for r in enabled)
    stdout.print(
        f"ok: {len(ruleset.rules)} rules ({len(enabled)} enabled) in {len(ruleset.categories)} "
        f"categories, {phrases} phrases, {patterns} patterns, version {ruleset.version}",
        markup=False,
        highlight=False,
    )


@rules_app.command("test")
def rules_test(
    text: Annotated[str | None, typer.Argument(help="Text to check.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Read the text from a file.")] = None,
    rules: RulesDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON contract.")] = False,
) -> None:
    """Show which rules fire on a text, and the decision."""
    from rules import load_ruleset

    if (text is None) == (file is None):
        raise typer.BadParameter("give either TEXT or --file PATH")
    text = text or ""
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(f"cannot read {file}: {exc}") from None
    ruleset = load_ruleset(_rules_dir(rules))
    judgement = ruleset.judge(text)
    if as_json:
        print(json.dumps(judgement.to_dict(), ensure_ascii=False))
        return
    stdout.print(f"decision: {judgement.decision.value}", markup=False, highlight=False)
    if judgement.matches:
        table = Table("rule", "category", "severity", "phrase", "text", "at")
        for m in judgement.matches:
            table.add_row(
                m.rule, m.category, m.severity.value, m.phrase, m.text, f"{m.start}-{m.end}"
            )
        stdout.print(table)


@rules_app.command("list")
def rules_list(rules: RulesDir = None) -> None:
    """List the rules, grouped by category."""
    from rules import load_ruleset

    ruleset = load_ruleset(_rules_dir(rules))
    by_category = defaultdict(list)
    for rule in ruleset.rules:
        by_category[rule.spec.category].append(rule)
    for category_id in sorted(by_category):
        category = ruleset.categories[category_id]
        table = Table(
            "rule",
            "severity",
            "on",
            "phrases",
            "patterns",
            "exceptions",
            title=f"{category.name} ({category_id})",
            title_justify="left",
        )
        for rule in by_category[category_id]:
            spec = rule.spec
            sample = "、".join(spec.phrases[:6]) + (" …" if len(spec.phrases) > 6 else "")
            table.add_row(
                spec.id,
                spec.severity.value,
                "yes" if spec.enabled else "no",
                f"{len(spec.phrases)}: {sample}",
                str(len(spec.patterns)),
                str(len(spec.exceptions)),
            )
        stdout.print(table)
    stdout.print(f"version {ruleset.version}", markup=False, highlight=False)


@rules_app.command("schema")
def rules_schema() -> None:
    """Print the JSON Schema of rule files (for editors' YAML plug-ins)."""
    from rules.jsonschema import rule_file_schema

    print(json.dumps(rule_file_schema(), ensure_ascii=False, indent=2))


DEMO_TEXTS = [
    "新款保温杯 限时特惠 ¥59 全网第一",
    "祛痘精华 7天见效 无副作用 无效退款",
    "國家級 品質 值得信赖",
    "全 网 第 一 销量 ★ 最·佳 之选",
    "１００％有效 ＮＯ．１ 品牌",
    "第一步：清洁面部 第一时间发货 最新款",
    "最好在睡前使用，温和不刺激",
    "纯棉T恤 舒适透气 包邮",
]


@app.command("demo")
def demo(rules: RulesDir = None) -> None:
    """Show the rule engine on sample ad copy (evasions, context traps, clean ads)."""
    from rules import load_ruleset

    ruleset = load_ruleset(_rules_dir(rules))
    table = Table("ad text", "decision", "evidence (rule: original text)")
    for text in DEMO_TEXTS:
        judgement = ruleset.judge(text)
        evidence = "\n".join(f"{m.rule}: {m.text}" for m in judgement.matches) or "-"
        table.add_row(text, judgement.decision.value, evidence)
    stdout.print(table)
    stdout.print(f"rule set {ruleset.version} from {_rules_dir(rules)}", markup=False)


def main() -> None:
    """Console-script entry point: run the app, turning project errors into one line."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        app()
    except RuleError as exc:
        for problem in exc.problems:
            stderr.print(f"error: {problem}", markup=False, highlight=False)
        sys.exit(1)
    except AdreviewError as exc:
        stderr.print(f"error: {exc}", markup=False, highlight=False)
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
