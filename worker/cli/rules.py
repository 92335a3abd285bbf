"""`adreview rules`: init, check, test, list, schema, stats and diff of a rule set."""

from __future__ import annotations

import json
import shlex
from collections import defaultdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from worker.cli._common import (
    FAILING,
    DbOption,
    FailOnOption,
    IndustryOption,
    RulesDir,
    SinceOption,
    app,
    gate,
    make_settings,
    parse_since,
    rules_dir_of,
    stderr,
    stdout,
    unknown_industry,
)
from worker.cli.rules_folder import init_folder, load_rules, note_local
from worker.errors import ConfigError, RuleError

if TYPE_CHECKING:
    from rules import RuleSet

rules_app = typer.Typer(
    help="Copy, check, test and list the banned-phrase rule set; see which rules misfire and "
    "what a candidate set would change.", no_args_is_help=True
)
app.add_typer(rules_app, name="rules")


@rules_app.command("init")
def rules_init(
    directory: Annotated[Path, typer.Argument(help="A new (or empty) folder to copy into.")],
) -> None:
    """Copy the shipped rule set into a folder of your own to edit, and print the line
    that makes every command, worker and API process use it."""
    try:
        written = init_folder(directory)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="DIRECTORY") from None
    folder = directory.resolve()
    stderr.print(f"{len(written)} rule files copied into {folder}; edit them, check with "
                 "`adreview rules check`, and use them with:", markup=False, highlight=False)
    print(f"export ADREVIEW_RULES_DIR={shlex.quote(str(folder))}", flush=True)


@rules_app.command("check")
def rules_check(
    directory: Annotated[Path | None, typer.Argument(help="Rule folder to validate.")] = None,
) -> None:
    """Validate a rule folder: exit 0 with a summary, or 1 with every problem found."""
    from rules import load_ruleset

    folder = rules_dir_of(directory)
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
        f"categories, {phrases} phrases, {patterns} patterns, version {ruleset.version}, "
        f"in {folder.resolve()}",
        markup=False,
        highlight=False,
    )
    note_local(folder)


@rules_app.command("test")
def rules_test(
    text: Annotated[str | None, typer.Argument(help="Text to check.")] = None,
    file: Annotated[Path | None, typer.Option("--file", help="Read the text from a file.")] = None,
    rules: RulesDir = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON contract.")] = False,
    industry: IndustryOption = None,
    fail_on: FailOnOption = None,
) -> None:
    """Show which rules fire on a text (an ad of `--industry`, if given), and the decision.

    With `--fail-on`: exit 0 below the threshold, 1 at or above it, 2 on a usage error or
    a rule set that does not load.
    """
    from rules.engine import UnknownIndustry

    if (text is None) == (file is None):
        raise typer.BadParameter("give either TEXT or --file PATH")
    text = text or ""
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(f"cannot read {file}: {exc}") from None
    with gate(fail_on):
        ruleset = load_rules(rules_dir_of(rules))
    try:
        judgement = ruleset.judge(text, industry)
    except UnknownIndustry as exc:
        raise unknown_industry(exc) from None
    if as_json:
        print(json.dumps(judgement.to_dict(), ensure_ascii=False))
    else:
        stdout.print(f"decision: {judgement.decision.value}", markup=False, highlight=False)
        if judgement.matches:
            table = Table("rule", "category", "severity", "phrase", "text", "at")
            for m in judgement.matches:
                table.add_row(
                    m.rule, m.category, m.severity.value, m.phrase, m.text, f"{m.start}-{m.end}"
                )
            stdout.print(table)
    if fail_on is not None and judgement.decision.value in FAILING[fail_on]:
        raise typer.Exit(1)


@rules_app.command("list")
def rules_list(rules: RulesDir = None) -> None:
    """List the rules, grouped by category."""

    ruleset = load_rules(rules_dir_of(rules))
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
    if ruleset.lexicons:
        stdout.print(_lexicon_table(ruleset))
    stdout.print(f"version {ruleset.version}", markup=False, highlight=False)


def _lexicon_table(ruleset: RuleSet) -> Table:
    """The lexicons of a rule set: terms, a sample, and the rules whose patterns name them."""
    from rules.schema import references

    users: dict[str, list[str]] = defaultdict(list)
    for rule in ruleset.rules:
        named = {n for p in [*rule.spec.patterns, *rule.spec.exception_patterns]
                 for n in references(p)}
        for name in sorted(named & set(ruleset.lexicons)):
            users[name].append(rule.spec.id)
    table = Table("lexicon", "name", "terms", "used by", title="lexicons", title_justify="left")
    for lexicon in ruleset.lexicons.values():
        sample = "、".join(lexicon.terms[:6]) + (" …" if len(lexicon.terms) > 6 else "")
        table.add_row(
            "{" + lexicon.id + "}", lexicon.name, f"{len(lexicon.terms)}: {sample}",
            ", ".join(users[lexicon.id]) or "-",
        )
    return table


@rules_app.command("schema")
def rules_schema() -> None:
    """Print the JSON Schema of rule files (for editors' YAML plug-ins)."""
    from rules.jsonschema import rule_file_schema

    print(json.dumps(rule_file_schema(), ensure_ascii=False, indent=2))


@rules_app.command("stats")
def rules_stats(
    since: SinceOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    context: Annotated[
        int, typer.Option("--context", help="Characters of surrounding text either side.")
    ] = 2,
    min_overrides: Annotated[
        int, typer.Option("--min-overrides",
                          help="Overridden hits in one context that suggest an exception.")
    ] = 3,
    rules: RulesDir = None,
    db: DbOption = None,
) -> None:
    """Which rules misfire: per rule and phrase, hits, confirmed, overridden and precision
    from reviewer decisions, the commonest text around overridden hits, and the YAML
    exception that would silence a context with many overrides (printed, never applied)."""
    from worker.db import Store
    from worker.rule_stats import rule_stats

    settings = make_settings(db=db, rules=rules)
    ruleset = load_rules(settings.rules_dir)
    with Store.open(settings.database_url) as store:
        result = rule_stats(store, ruleset, since=parse_since(since), context=context,
                            min_overrides=min_overrides)
    data = result.to_dict()
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
        return
    table = Table("rule", "phrase", "hits", "confirmed", "overridden", "precision",
                  "overridden in context", title=f"{data['submissions']} ads, "
                  f"{data['reviewed']} reviewed", title_justify="left")
    for rule in data["rules"]:
        rows = [(rule["rule"], "(all)", rule)] + [
            ("", phrase, tally) for phrase, tally in rule["phrases"].items()]
        for name, phrase, tally in rows:
            precision = "-" if tally["precision"] is None else f"{tally['precision']:.0%}"
            contexts = ", ".join(f"{c['context']} ×{c['count']}"
                                 for c in tally["overridden_contexts"][:3]) or "-"
            table.add_row(name, phrase, str(tally["hits"]), str(tally["confirmed"]),
                          str(tally["overridden"]), precision, contexts)
    stdout.print(table)
    for rule in data["rules"]:
        if rule["suggestion"]:
            stdout.print(rule["suggestion"], markup=False, highlight=False)


@rules_app.command("diff")
def rules_diff(
    candidate: Annotated[Path, typer.Argument(help="Folder of the candidate rule set.")],
    since: SinceOption = None,
    limit: Annotated[
        int | None, typer.Option("--limit", help="Only the newest N current verdicts.")
    ] = None,
    examples: Annotated[
        int, typer.Option("--examples", help="Example ads shown per group and per rule.")
    ] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    db: DbOption = None,
) -> None:
    """Dry run: what a candidate rule set would change in the stored verdicts (no OCR, no
    writes)."""
    from worker.db import Store
    from worker.rules_diff import diff_rules

    settings = make_settings(db=db)
    ruleset = load_rules(candidate)
    with Store.open(settings.database_url) as store:
        result = diff_rules(store, ruleset, min_confidence=settings.min_match_confidence,
                            since=parse_since(since), limit=limit, examples=examples)
    if as_json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
        return
    before = ", ".join(f"{n} {d}" for d, n in sorted(result.before.items())) or "none"
    after = ", ".join(f"{n} {d}" for d, n in sorted(result.after.items())) or "none"
    stdout.print(
        f"candidate {result.candidate}: {result.examined} stored ads, {result.unchanged} "
        f"unchanged; newly flagged {result.newly_flagged.count}, cleared "
        f"{result.cleared.count}, decision changed {result.changed.count}, evidence only "
        f"{result.evidence_changed.count}\nbefore: {before}\nafter:  {after}",
        markup=False, highlight=False,
    )
    groups = (("newly flagged", result.newly_flagged), ("cleared", result.cleared),
              ("decision changed", result.changed), ("evidence changed", result.evidence_changed))
    for title, group in groups:
        if not group.examples:
            continue
        table = Table("submission", "source", "ad", "before", "after", "hits", "text",
                      title=f"{title} ({group.count})", title_justify="left")
        for e in group.examples:
            hits = "\n".join([f"+ {r}: {t}" for r, t in e.added]
                             + [f"- {r}: {t}" for r, t in e.removed])
            table.add_row(e.submission, e.source, e.ad_id or "-", e.before, e.after, hits,
                          e.text)
        stdout.print(table)
    if result.rules:
        table = Table("rule", "hits added", "hits removed", "ads", "example",
                      title="per rule", title_justify="left")
        for rule, change in sorted(result.rules.items()):
            first = change.ads.examples[0] if change.ads.examples else None
            table.add_row(rule, str(change.added), str(change.removed), str(change.ads.count),
                          "-" if first is None else f"{first.submission} {first.text}")
        stdout.print(table)
