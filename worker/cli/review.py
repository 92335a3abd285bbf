"""Reviewing and reading verdicts: `scan`, `verdicts`, `show` and `annotate`."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from worker.cli._common import (
    FAILING,
    DbOption,
    EngineOption,
    FailOnOption,
    IndustryOption,
    RulesDir,
    app,
    gate,
    make_settings,
    parse_since,
    stderr,
    stdout,
    unknown_industry,
)
from worker.cli.rules_folder import announce

if TYPE_CHECKING:
    from worker.db.records import StoredVerdict


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

    With `--fail-on`: exit 0 when no image is at or above the threshold, 1 when one is
    (an image that could not be read counts), 2 on a usage error or when nothing could be
    judged (no images, a rule set that does not load, a database that cannot be opened).
    """
    from rules.engine import UnknownIndustry
    from worker.scan import run_scan

    settings = make_settings(engine, rules, db)
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        raise typer.BadParameter(f"no such file or folder: {', '.join(missing)}")
    try:
        with gate(fail_on):
            code = run_scan(paths, settings, jobs=jobs, as_json=as_json, out=stdout,
                            on_ruleset=lambda ruleset: announce(settings.rules_dir,
                                                                ruleset.version),
                            err=stderr, industry=industry,
                            fail_on=FAILING[fail_on] if fail_on is not None else (),
                            with_lines=with_lines)
    except UnknownIndustry as exc:
        raise unknown_industry(exc) from None
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
    tsv: Annotated[
        bool | None, typer.Option("--tsv/--table",
                                  help="Tab-separated lines, or a table (default: a table on "
                                       "a terminal, tab-separated lines into a pipe or file).")
    ] = None,
) -> None:
    """List the stored current verdicts (newest first) with their effective decisions.

    Into a pipe or a file (or with `--tsv`) each verdict is one tab-separated line under
    a header: submission, judged, decision, effective decision, reviewer, image and
    evidence (`rule: text` items separated by ` | `), never cut or folded."""
    from rules.schema import Decision
    from worker.db import Store

    for given, hint in ((decision, "--decision"), (effective, "--effective-decision")):
        if given is not None and given not in {d.value for d in Decision}:
            raise typer.BadParameter(
                f"{given!r} is not one of {', '.join(d.value for d in Decision)}",
                param_hint=hint,
            )
    settings = make_settings(db=db)
    with Store.open(settings.database_url) as store:
        found = store.current_verdicts(decision, parse_since(since), limit, industry=industry,
                                       reviewed=reviewed, effective=effective)
    if as_json:
        for item in found:
            print(json.dumps(item.to_dict(), ensure_ascii=False))
        return
    if tsv or (tsv is None and not stdout.is_terminal):
        print_tsv(found)
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


def print_tsv(found: Sequence[StoredVerdict]) -> None:
    """`verdicts` as tab-separated lines under a header (tabs and line breaks inside a
    field become spaces)."""

    def clean(text: str) -> str:
        return " ".join(text.replace("\t", " ").splitlines())

    print("submission\tjudged\tdecision\teffective_decision\treviewer\timage\tevidence")
    for item in found:
        v = item.verdict
        evidence = (
            f"{v.error.code.value}: {v.error.message}" if v.error is not None
            else " | ".join(f"{m.rule}: {m.text}" for m in v.matches)
        )
        reviewer = item.review.reviewer if item.review is not None else ""
        fields = (item.submission, item.judged.isoformat(timespec="seconds"), v.decision.value,
                  item.effective_decision.value, reviewer, item.source.removeprefix("scan:"),
                  evidence)
        print("\t".join(clean(f) for f in fields))


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

    settings = make_settings(engine, rules, db)
    data, evidence = evidence_for(target, settings)
    image = annotate(data, evidence)
    output.parent.mkdir(parents=True, exist_ok=True)
    image.save(output, format="PNG")
    stdout.print(f"{len(evidence)} matches drawn: {output}", markup=False, highlight=False)


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

    settings = make_settings(db=db)
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
