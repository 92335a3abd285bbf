"""The ``adreview`` command line.

User mistakes (a bad rule file, a missing path, an unknown engine) print one clear line
on stderr and exit non-zero; tracebacks are kept for real bugs.

Exit statuses: 0 done, 1 failed (or, under ``--fail-on``, something at or above the
threshold), 2 a usage error (or, under ``--fail-on``, nothing could be judged).
"""

from __future__ import annotations

import json
import logging
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from worker.errors import AdreviewError, RuleError
from worker.settings import Settings, get_settings

if TYPE_CHECKING:
    from rules import RuleSet

app = typer.Typer(
    name="adreview",
    help="Ad-image compliance review: OCR ad images and flag banned advertising claims.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Sub-commands inherit these from the top context.
    context_settings={"help_option_names": ["-h", "--help"]},
)
rules_app = typer.Typer(
    help="Check, test and list the banned-phrase rule set.", no_args_is_help=True
)
app.add_typer(rules_app, name="rules")

stdout = Console(soft_wrap=True)
stderr = Console(stderr=True, soft_wrap=True)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("adreview")
        except PackageNotFoundError:  # pragma: no cover - run from a bare source tree
            found = "unknown (not installed)"
        print(f"adreview {found}")
        raise typer.Exit()


@app.callback()
def _top(
    show_version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True,
                           help="Print the version and exit.")
    ] = False,
) -> None:
    """Ad-image compliance review: OCR ad images and flag banned advertising claims."""


class FailOn(StrEnum):
    """``--fail-on``: the lowest decision that makes the command exit 1."""

    REVIEW = "review"
    REJECT = "reject"


#: The decisions at or above each ``--fail-on`` threshold. An ``error`` (an image that
#: could not be judged) was never cleared, so it is at or above either.
FAILING: dict[FailOn, frozenset[str]] = {
    FailOn.REVIEW: frozenset({"review", "reject", "error"}),
    FailOn.REJECT: frozenset({"reject", "error"}),
}

FailOnOption = Annotated[
    FailOn | None,
    typer.Option("--fail-on", help="Exit 1 when a decision is at or above this one (an "
                 "error counts as both); exit 2 when nothing could be judged."),
]


@contextmanager
def _gate(fail_on: FailOn | None) -> Iterator[None]:
    """Under ``--fail-on`` exit 1 means "at or above the threshold" and nothing else: a
    command stopped before judging (a rule set that does not load, a database that cannot
    be opened) exits 2 instead."""
    if fail_on is None:
        yield
        return
    try:
        yield
    except RuleError as exc:
        for problem in exc.problems:
            stderr.print(f"error: {problem}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    except AdreviewError as exc:
        stderr.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None

RulesDir = Annotated[
    Path | None,
    typer.Option("--rules", help="Rule folder (default: $ADREVIEW_RULES_DIR or the shipped set)."),
]


def _rules_dir(option: Path | None) -> Path:
    return option if option is not None else get_settings().rules_dir


IndustryOption = Annotated[
    str | None,
    typer.Option("--industry", help="The ad's industry, an id the rule set declares: rules "
                 "limited to or exempt in industries apply accordingly."),
]


def _unknown_industry(exc: Exception) -> typer.BadParameter:
    """A refused ``--industry`` as a usage error (exit 2) naming the known industries."""
    return typer.BadParameter(str(exc), param_hint="--industry")


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
    industry: IndustryOption = None,
    fail_on: FailOnOption = None,
) -> None:
    """Show which rules fire on a text (an ad of ``--industry``, if given), and the decision.

    With ``--fail-on``: exit 0 below the threshold, 1 at or above it, 2 on a usage error or
    a rule set that does not load.
    """
    from rules import load_ruleset
    from rules.engine import UnknownIndustry

    if (text is None) == (file is None):
        raise typer.BadParameter("give either TEXT or --file PATH")
    text = text or ""
    if file is not None:
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise typer.BadParameter(f"cannot read {file}: {exc}") from None
    with _gate(fail_on):
        ruleset = load_ruleset(_rules_dir(rules))
    try:
        judgement = ruleset.judge(text, industry)
    except UnknownIndustry as exc:
        raise _unknown_industry(exc) from None
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
    since: Annotated[
        str | None,
        typer.Option("--since", help="Verdicts judged at or after: ISO time or 2h, 3d."),
    ] = None,
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
    from rules import load_ruleset
    from worker.db import Store
    from worker.rule_stats import rule_stats

    settings = _settings(db=db, rules=rules)
    ruleset = load_ruleset(settings.rules_dir)
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
    since: Annotated[
        str | None,
        typer.Option("--since", help="Verdicts judged at or after: ISO time or 2h, 3d."),
    ] = None,
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
    from rules import load_ruleset
    from worker.db import Store
    from worker.rules_diff import diff_rules

    settings = _settings(db=db)
    ruleset = load_ruleset(candidate)
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


EngineOption = Annotated[
    str | None, typer.Option("--engine", help="OCR engine (default: $ADREVIEW_OCR_ENGINE).")
]
DbOption = Annotated[
    str | None, typer.Option("--db", help="Database URL (default: $ADREVIEW_DATABASE_URL).")
]


def _settings(
    engine: str | None = None, rules: Path | None = None, db: str | None = None
) -> Settings:
    overrides: dict[str, object] = {}
    if engine is not None:
        overrides["ocr_engine"] = engine
    if rules is not None:
        overrides["rules_dir"] = rules
    if db is not None:
        overrides["database_url"] = db
    return Settings(**overrides)  # type: ignore[arg-type]  # validated by pydantic


@app.command("scan")
def scan(
    paths: Annotated[
        list[Path], typer.Argument(help="Image files or folders (walked recursively).")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per image per line.")
    ] = False,
    engine: EngineOption = None,
    rules: RulesDir = None,
    db: DbOption = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Worker processes (default: all cores).")
    ] = None,
    industry: IndustryOption = None,
    fail_on: FailOnOption = None,
    with_lines: Annotated[
        bool, typer.Option("--lines", help="With --json: every OCR line of each image too.")
    ] = False,
) -> None:
    """Review local images in-process (no broker needed) and store the verdicts.

    With ``--fail-on``: exit 0 when no image is at or above the threshold, 1 when one is
    (an image that could not be read counts), 2 on a usage error or when nothing could be
    judged (no images, a rule set that does not load, a database that cannot be opened).
    """
    from rules.engine import UnknownIndustry
    from worker.scan import run_scan

    settings = _settings(engine, rules, db)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"no such file or folder: {', '.join(missing)}")
    try:
        with _gate(fail_on):
            code = run_scan(paths, settings, jobs=jobs, as_json=as_json, out=stdout,
                            err=stderr, industry=industry,
                            fail_on=FAILING[fail_on] if fail_on is not None else (),
                            with_lines=with_lines)
    except UnknownIndustry as exc:
        raise _unknown_industry(exc) from None
    raise typer.Exit(code)


@app.command("verdicts")
def verdicts(
    decision: Annotated[
        str | None, typer.Option("--decision", help="Only pass, review, reject or error.")
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", help="Judged at or after: ISO time (2026-11-24T08:00) or 2h, 3d."),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", help="At most this many.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    db: DbOption = None,
    industry: Annotated[
        str | None, typer.Option("--industry", help="Only ads judged as this industry.")
    ] = None,
    effective: Annotated[
        str | None, typer.Option("--effective-decision",
                                 help="Only this effective decision (a reviewer's, else the "
                                      "machine's).")
    ] = None,
    reviewed: Annotated[
        bool | None, typer.Option("--reviewed/--unreviewed",
                                  help="Only ads a reviewer has / has not decided about.")
    ] = None,
) -> None:
    """List the stored current verdicts (newest first) with their effective decisions."""
    from rules.schema import Decision
    from worker.db import Store

    for given, hint in ((decision, "--decision"), (effective, "--effective-decision")):
        if given is not None and given not in {d.value for d in Decision}:
            raise typer.BadParameter(
                f"{given!r} is not one of {', '.join(d.value for d in Decision)}",
                param_hint=hint,
            )
    settings = _settings(db=db)
    with Store.open(settings.database_url) as store:
        found = store.current_verdicts(decision, parse_since(since), limit, industry=industry,
                                       reviewed=reviewed, effective=effective)
    if as_json:
        for item in found:
            print(json.dumps(item.to_dict(), ensure_ascii=False))
        return
    # Ids and times are copied from this table: they are never cut, on any width; the
    # image and its evidence share the last column and fold into what is left.
    ident = max((len(item.submission) for item in found), default=10)
    table = Table()
    table.add_column("submission", no_wrap=True, min_width=ident)
    table.add_column("judged", min_width=len("2026-11-24"))
    # the machine's decision, and when a reviewer decided, the effective one and who
    table.add_column("decision", min_width=len("review"))
    table.add_column("image: evidence", overflow="fold")
    for item in found:
        v = item.verdict
        evidence = (
            f"{v.error.code.value}: {v.error.message}" if v.error is not None
            else "\n".join(f"{m.rule}: {m.text}" for m in v.matches) or "-"
        )
        decided = v.decision.value
        if item.review is not None:
            decided += f"\n→ {item.effective_decision.value}\n{item.review.reviewer}"
        table.add_row(item.submission, item.judged.strftime("%Y-%m-%d %H:%M:%S"), decided,
                      f"{item.source.removeprefix('scan:')}:\n{evidence}")
    stdout.print(table)
    stdout.print(f"{len(found)} verdicts", markup=False)


def parse_since(value: str | None, now: datetime | None = None) -> datetime | None:
    """``--since``: an ISO 8601 time (UTC when no zone is given) or an age like 90m, 2h, 7d."""
    if value is None:
        return None
    now = now or datetime.now(UTC)
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
    text = value.strip().lower()
    if len(text) > 1 and text[-1] in units and text[:-1].isdigit():
        return now - timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{value!r} is neither an ISO time (2026-11-24T08:00) nor an age (90m, 2h, 7d)",
            param_hint="--since",
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


@app.command("annotate")
def annotate_command(
    target: Annotated[str, typer.Argument(help="A submission id, or an image file.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the PNG.")],
    engine: EngineOption = None,
    rules: RulesDir = None,
    db: DbOption = None,
) -> None:
    """Draw every match on the image, boxed and labelled.

    A submission id uses its stored verdict; an image file uses the stored verdict of the
    same content when there is one, else it is reviewed now (and nothing is stored).
    """
    from worker.annotate import annotate, evidence_for

    settings = _settings(engine, rules, db)
    data, evidence = evidence_for(target, settings)
    image = annotate(data, evidence)
    output.parent.mkdir(parents=True, exist_ok=True)
    image.save(output, format="PNG")
    stdout.print(f"{len(evidence)} matches drawn: {output}", markup=False, highlight=False)


@app.command("demo")
def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the sample ads, database and drawings.")
    ] = Path("demo-out"),
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Worker processes.")] = None,
) -> None:
    """Generate realistic sample ads, scan them with the embedded defaults, draw the evidence."""
    from worker.annotate import annotate
    from worker.db import Store
    from worker.samples import demo_ads
    from worker.scan import run_scan

    ads = out / "ads"
    if not ads.is_dir() or not any(ads.iterdir()):
        stdout.print(f"writing sample ads to {ads}/ ...", markup=False, highlight=False)
        demo_ads(ads)
    settings = _settings(db=f"sqlite:///{(out / 'adreview.db').resolve()}")
    code = run_scan([ads], settings, jobs=jobs, out=stdout, err=stderr)
    if code:
        raise typer.Exit(code)
    drawn = out / "annotated"
    drawn.mkdir(parents=True, exist_ok=True)
    count = 0
    with Store.open(settings.database_url) as store:
        for item in store.current_verdicts():
            if not item.verdict.matches or not item.source.startswith("scan:"):
                continue
            path = Path(item.source.removeprefix("scan:"))
            image = annotate(path.read_bytes(), item.verdict.matches)
            image.save(drawn / f"{path.stem}.png", format="PNG")
            count += 1
    stdout.print(
        f"{count} annotated images in {drawn}/ (red: reject, amber: review). "
        f"Try: .venv/bin/adreview verdicts --db sqlite:///{out / 'adreview.db'}",
        markup=False, highlight=False,
    )


QueueOption = Annotated[
    str | None,
    typer.Option("--queues", "-Q", help="Comma-separated queues (default: $ADREVIEW_QUEUE)."),
]


@app.command("worker")
def worker_command(
    queues: QueueOption = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", help="Pool processes (default: cores).")
    ] = None,
    pool: Annotated[
        str, typer.Option("--pool", "-P", help="prefork, solo or threads (solo/threads for GPU).")
    ] = "prefork",
    loglevel: Annotated[str, typer.Option("--loglevel", "-l", help="Log level.")] = "INFO",
    hostname: Annotated[
        str | None, typer.Option("--hostname", "-n", help="Node name (unique per worker).")
    ] = None,
    metrics_port: Annotated[
        int | None,
        typer.Option("--metrics-port", help="Serve Prometheus /metrics on this port."),
    ] = None,
    metrics_host: Annotated[
        str,
        typer.Option("--metrics-host", help="Address of /metrics (0.0.0.0 in a container)."),
    ] = "127.0.0.1",
) -> None:
    """Run a Celery worker that reviews queued submissions.

    Equivalent to ``celery -A worker.celery_app worker``. With ``--metrics-port`` the
    parent process serves the counters of every pool process: unless
    ``PROMETHEUS_MULTIPROC_DIR`` is set already, it is pointed at a fresh temporary folder
    (removed when the worker exits) before any metric exists.
    """
    import os
    import shutil
    import tempfile

    own_folder: str | None = None
    if metrics_port is not None and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_folder = tempfile.mkdtemp(prefix="adreview-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_folder
    parent = os.getpid()
    try:
        from worker.celery_app import app as celery

        settings = get_settings()
        argv = ["worker", "--queues", queues or settings.queue, "--pool", pool,
                "--loglevel", loglevel]
        if concurrency is not None:
            argv += ["--concurrency", str(concurrency)]
        if hostname is not None:
            argv += ["--hostname", hostname]
        if metrics_port is not None:
            from worker.metrics import serve

            serve(metrics_port, addr=metrics_host)
        # ``worker_main`` drops the worker's exit status; ``start`` returns it.
        status = celery.start(argv=argv)
        if status:
            raise typer.Exit(status)
    finally:
        if own_folder is not None and os.getpid() == parent:
            shutil.rmtree(own_folder, ignore_errors=True)


@app.command("submit")
def submit_command(
    images: Annotated[
        list[str],
        typer.Argument(help="Image files, folders (walked recursively) or http(s) URLs."),
    ],
    ad_id: Annotated[str | None, typer.Option("--ad-id", help="External ad id.")] = None,
    engine: EngineOption = None,
    industry: IndustryOption = None,
    db: DbOption = None,
    metadata: Annotated[
        str | None,
        typer.Option("--metadata", help='A JSON object kept with each submission, e.g. '
                     '\'{"shop": "s-204"}\'.'),
    ] = None,
    priority: Annotated[
        int | None,
        typer.Option("--priority", min=0, max=9,
                     help="0 (the default) is reviewed first, 9 last."),
    ] = None,
    callback_url: Annotated[
        str | None,
        typer.Option("--callback-url", help="POST each verdict here, signed with the "
                     "workers' ADREVIEW_WEBHOOK_SECRET."),
    ] = None,
) -> None:
    """Queue images for review; prints one submission id per line.

    A file that cannot be sent (unreadable, too large) is reported and skipped, and the
    rest are sent; the command then exits 1 with a summary on stderr.
    """
    from rules.engine import UnknownIndustry
    from worker.client import (
        BrokerUnavailable,
        active_ruleset,
        check_engine,
        declared_industry,
        is_url,
        submit,
    )
    from worker.errors import ConfigError, EngineNotFound
    from worker.scan import find_images

    settings = _settings(db=db)
    try:  # before anything is stored: a submission no worker can review is refused
        check_engine(engine or settings.ocr_engine)
    except EngineNotFound as exc:
        raise typer.BadParameter(str(exc), param_hint="--engine") from None
    meta = _metadata_option(metadata, callback_url)
    try:  # once, not per image
        declared = declared_industry(industry, meta)
        if declared is not None:
            active_ruleset(settings).check_industry(declared)
    except UnknownIndustry as exc:
        raise _unknown_industry(exc) from None
    except ConfigError as exc:
        raise typer.BadParameter(str(exc), param_hint="--metadata") from None
    sent = stored = 0
    failed: list[str] = []
    for given in images:
        if is_url(given):
            targets = [given]
        elif Path(given).is_dir():
            targets = [str(p) for p in find_images([Path(given)])]
            if not targets:
                failed.append(given)
                stderr.print(f"error: no image files under {given}", markup=False,
                             highlight=False)
        else:
            targets = [given]
        for image in targets:
            try:
                submission = submit(image, ad_id=ad_id, engine=engine, settings=settings,
                                    industry=industry, metadata=meta, priority=priority)
            except BrokerUnavailable as exc:
                stored += 1
                stderr.print(f"error: {image}: {exc}", markup=False, highlight=False)
                continue
            except ConfigError as exc:
                failed.append(image)
                stderr.print(f"error: {exc}", markup=False, highlight=False)
                continue
            sent += 1
            print(submission, flush=True)
    if stored or failed:
        parts = [f"{sent} queued"]
        if stored:
            parts.append(f"{stored} stored but not queued (`adreview requeue --stale 0` "
                         "sends them)")
        if failed:
            parts.append(f"{len(failed)} not submitted")
        stderr.print("; ".join(parts), markup=False, highlight=False)
        raise typer.Exit(1)


def _metadata_option(raw: str | None, callback_url: str | None) -> dict[str, object] | None:
    """``--metadata`` and ``--callback-url`` as submission metadata (usage errors: exit 2)."""
    from worker.client import RESERVED_METADATA

    meta: dict[str, object] = {}
    if raw is not None:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise typer.BadParameter(f"not JSON: {exc}", param_hint="--metadata") from None
        if not isinstance(value, dict):
            raise typer.BadParameter("must be a JSON object", param_hint="--metadata")
        clash = sorted(set(value) & set(RESERVED_METADATA))
        if clash:
            raise typer.BadParameter(f"keys {', '.join(clash)} are reserved by the queue",
                                     param_hint="--metadata")
        meta.update(value)
    if callback_url is not None:
        from worker.api.webhooks import check_callback_url

        try:
            check_callback_url(callback_url)
        except AdreviewError as exc:
            raise typer.BadParameter(str(exc), param_hint="--callback-url") from None
        meta["callback_url"] = callback_url
    return meta or None


@app.command("show")
def show_command(
    submission_id: Annotated[str, typer.Argument(help="A submission id (as submit, scan "
                                                 "--json or verdicts print it).")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    db: DbOption = None,
) -> None:
    """One submission: its status, current verdict with evidence, and reviewer decisions."""
    from worker.client import RESERVED_METADATA
    from worker.db import Store, safe_url

    settings = _settings(db=db)
    with Store.open(settings.database_url) as store:
        sub = store.get_submission(submission_id)
        if sub is None:
            stderr.print(f"error: no submission {submission_id!r} in "
                         f"{safe_url(settings.database_url)}", markup=False, highlight=False)
            raise typer.Exit(1)
        current = store.current_verdict(submission_id)
        reviews = store.reviews(submission_id)
    latest = reviews[-1] if reviews else None
    machine = None if current is None else current.verdict.decision.value
    effective = latest.decision.value if latest is not None else machine
    meta = {k: v for k, v in (sub.metadata or {}).items() if k not in RESERVED_METADATA}
    if as_json:
        print(json.dumps({
            "id": sub.id, "ad_id": sub.ad_id, "status": sub.status.value, "source": sub.source,
            "sha256": sub.sha256, "attempts": sub.attempts, "metadata": meta,
            "industry": sub.industry, "created": sub.created.isoformat(),
            "updated": sub.updated.isoformat(),
            "verdict": None if current is None else current.to_dict(),
            "reviews": [r.to_dict() for r in reviews],
            "effective_decision": effective, "reviewed": latest is not None,
        }, ensure_ascii=False))
        return
    facts = [("submission", sub.id), ("ad", sub.ad_id or "-"), ("status", sub.status.value),
             ("source", sub.source), ("industry", sub.industry or "-"),
             ("created", sub.created.strftime("%Y-%m-%d %H:%M:%S")),
             ("metadata", json.dumps(meta, ensure_ascii=False) if meta else "-")]
    if current is not None:
        v = current.verdict
        facts += [("decision", v.decision.value + (f" (reviewer: {effective})"
                                                   if latest is not None else "")),
                  ("judged", current.judged.strftime("%Y-%m-%d %H:%M:%S")),
                  ("rule set", v.ruleset), ("engine", f"{v.engine} {v.engine_version}")]
        if v.error is not None:
            facts.append(("error", f"{v.error.code.value}: {v.error.message}"))
    else:
        facts.append(("decision", "- (no verdict yet)"))
    for name, value in facts:
        stdout.print(f"{name + ':':<11} {value}", markup=False, highlight=False)
    if current is not None and current.verdict.matches:
        table = Table("rule", "severity", "phrase", "text", "line", "score",
                      title="evidence", title_justify="left")
        for m in current.verdict.matches:
            score = "-" if m.score is None else f"{m.score:.2f}"
            table.add_row(m.rule, m.severity.value + (" (uncertain)" if m.uncertain else ""),
                          m.phrase, m.text, m.line, score)
        stdout.print(table)
    if reviews:
        table = Table("when", "reviewer", "action", "decision", "note",
                      title="reviews", title_justify="left")
        for r in reviews:
            table.add_row(r.created.strftime("%Y-%m-%d %H:%M:%S"), r.reviewer, r.action.value,
                          r.decision.value, r.note or "")
        stdout.print(table)


@app.command("requeue")
def requeue_command(
    stale: Annotated[
        float, typer.Option("--stale", help="Re-send submissions waiting longer than MINUTES.")
    ],
) -> None:
    """Send again the submissions queued or processing for too long; prints their ids."""
    from worker.client import requeue_stale

    for submission in requeue_stale(stale, get_settings()):
        print(submission, flush=True)


@app.command("migrate")
def migrate_command(db: DbOption = None) -> None:
    """Create or upgrade the database schema to the newest revision; prints the revision.

    Safe to run while workers are up and from several processes at once (one waits for
    the other); a database already at the newest revision is left alone. Keys declared in
    ``ADREVIEW_API_KEYS`` (``ROLE NAME KEY`` per line, e.g. a secrets file) are then made
    sure of: added when missing, left alone when stored.
    """
    from worker.db import Store, make_engine, safe_url, upgrade
    from worker.db.errors import InvalidRecord
    from worker.db.keys import ApiKeys
    from worker.db.migrate import current_revision, translate_errors

    settings = _settings(db=db)
    engine = make_engine(settings.database_url)
    try:
        upgrade(engine)
        with translate_errors(engine.url), engine.connect() as connection:
            revision = current_revision(connection)
    finally:
        engine.dispose()
    stdout.print(f"{safe_url(settings.database_url)}: schema at revision {revision}",
                 markup=False, highlight=False)
    if settings.api_keys.strip():
        with Store.open(settings.database_url) as store:
            try:
                ensured = ApiKeys(store).ensure_declared(settings.api_keys)
            except InvalidRecord as exc:
                stderr.print(f"error: ADREVIEW_API_KEYS {exc}", markup=False, highlight=False)
                raise typer.Exit(2) from None
        added = sum(1 for _, new in ensured if new)
        stdout.print(f"API keys declared: {len(ensured)} ({added} added)", markup=False,
                     highlight=False)


@app.command("rescan")
def rescan_command(
    since: Annotated[
        str | None,
        typer.Option("--since", help="Verdicts judged at or after: ISO time or 2h, 3d."),
    ] = None,
    decision: Annotated[
        str | None, typer.Option("--decision", help="Only current pass, review or reject.")
    ] = None,
    rules: RulesDir = None,
    db: DbOption = None,
    jobs: Annotated[
        int | None, typer.Option("--jobs", "-j", help="Judging processes (default: cores).")
    ] = None,
) -> None:
    """Judge the stored OCR text again with the current rules (no OCR), adding verdicts.

    Only submissions whose current verdict used another rule set are judged, so an
    interrupted rescan continues when run again and a finished one does nothing.
    """
    from rules import load_ruleset
    from rules.schema import Decision
    from worker.db import Store
    from worker.rescan import default_jobs, rescan
    from worker.scan import progress_bar

    if decision is not None and decision not in {d.value for d in Decision}:
        raise typer.BadParameter(
            f"{decision!r} is not one of {', '.join(d.value for d in Decision)}",
            param_hint="--decision",
        )
    settings = _settings(rules=rules, db=db)
    ruleset = load_ruleset(settings.rules_dir)
    with (
        Store.open(settings.database_url) as store,
        progress_bar(stderr) as progress,
    ):
        task = progress.add_task("rescanning", total=None)
        summary = rescan(
            store, ruleset, rules_dir=settings.rules_dir,
            min_confidence=settings.min_match_confidence, since=parse_since(since),
            decision=decision, jobs=jobs or default_jobs(),
            on_start=lambda total: progress.update(task, total=total),
            on_progress=lambda n: progress.advance(task, n),
        )
    after = ", ".join(f"{n} {d}" for d, n in sorted(summary.after.items())) or "none"
    stdout.print(
        f"rule set {summary.ruleset}: {summary.judged} stored ads judged again "
        f"({summary.changed} decisions changed; now {after}), {summary.written} verdicts "
        f"written in {summary.seconds:.1f} s ({summary.rate:.0f} ads/s)",
        markup=False, highlight=False,
    )


keys_app = typer.Typer(help="Make, list and revoke HTTP API keys.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
def keys_create(
    role: Annotated[
        str, typer.Option("--role", help="producer, reviewer, rule-editor or admin.")
    ],
    name: Annotated[
        str | None, typer.Option("--name", help="Who uses it (stored as the reviewer name).")
    ] = None,
    db: DbOption = None,
) -> None:
    """Make an API key and print it once: only its hash is stored."""
    from worker.db import Store
    from worker.db.keys import ApiKeys
    from worker.db.models import ApiRole

    if role not in {r.value for r in ApiRole}:
        raise typer.BadParameter(
            f"{role!r} is not one of {', '.join(r.value for r in ApiRole)}", param_hint="--role"
        )
    with Store.open(_settings(db=db).database_url) as store:
        record, key = ApiKeys(store).create(role, name)
    stderr.print(f"key {record.id} ({record.role.value}, {record.name}); it is shown only once:",
                 markup=False, highlight=False)
    print(key, flush=True)


@keys_app.command("list")
def keys_list(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per line.")] = False,
    db: DbOption = None,
) -> None:
    """List the API keys (never the keys themselves)."""
    from worker.db import Store
    from worker.db.keys import ApiKeys

    with Store.open(_settings(db=db).database_url) as store:
        found = ApiKeys(store).list()
    if as_json:
        for item in found:
            print(json.dumps(item.to_dict(), ensure_ascii=False))
        return
    table = Table("id", "name", "role", "prefix", "created", "revoked")
    for item in found:
        table.add_row(str(item.id), item.name, item.role.value, item.prefix + "...",
                      item.created.strftime("%Y-%m-%d %H:%M:%S"),
                      "-" if item.revoked is None else item.revoked.strftime("%Y-%m-%d %H:%M:%S"))
    stdout.print(table)


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[int, typer.Argument(help="The key's id (see `adreview keys list`).")],
    db: DbOption = None,
) -> None:
    """Revoke an API key: requests with it get 401 from now on."""
    from worker.db import Store
    from worker.db.keys import ApiKeys

    with Store.open(_settings(db=db).database_url) as store:
        record = ApiKeys(store).revoke(key_id)
    stdout.print(f"revoked key {record.id} ({record.role.value}, {record.name})",
                 markup=False, highlight=False)


@app.command("serve")
def serve_command(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (0.0.0.0 to listen on every one).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="uvicorn worker processes.")] = 1,
    db: DbOption = None,
) -> None:
    """Serve the HTTP API with uvicorn (settings from ADREVIEW_* variables).

    With ``--workers`` above 1, ``/metrics`` serves the counters of every worker process:
    unless ``PROMETHEUS_MULTIPROC_DIR`` is set already, it is pointed at a fresh temporary
    folder (removed when the server exits) before the workers start. Forwarded headers
    are applied by the app itself, from ``ADREVIEW_TRUSTED_PROXIES`` only.
    """
    import os
    import shutil
    import tempfile

    import uvicorn

    if db is not None:
        # Worker processes build their app from the environment.
        os.environ["ADREVIEW_DATABASE_URL"] = db
        get_settings.cache_clear()
    own_folder: str | None = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_folder = tempfile.mkdtemp(prefix="adreview-api-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_folder
    try:
        # proxy_headers stays off: the app trusts forwarded headers from the configured
        # proxies only (uvicorn's default would trust 127.0.0.1 by itself).
        uvicorn.run("worker.api.app:app_from_env", factory=True, host=host, port=port,
                    workers=workers, proxy_headers=False)
    finally:
        if own_folder is not None:
            shutil.rmtree(own_folder, ignore_errors=True)


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
