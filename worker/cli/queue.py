"""The queue: `submit`, `worker`, `requeue` and `rescan`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from worker.cli._common import (
    DbOption,
    EngineOption,
    IndustryOption,
    RulesDir,
    SinceOption,
    app,
    make_settings,
    parse_since,
    stderr,
    stdout,
    unknown_industry,
)
from worker.cli.rules_folder import announce_folder, load_rules
from worker.errors import AdreviewError
from worker.settings import get_settings

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

    Equivalent to `celery -A worker.celery_app worker`. With `--metrics-port` the
    parent process serves the counters of every pool process: unless
    `PROMETHEUS_MULTIPROC_DIR` is set already, it is pointed at a fresh temporary folder
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
        announce_folder(settings.rules_dir)
        argv = ["worker", "--queues", queues or settings.queue, "--pool", pool,
                "--loglevel", loglevel]
        if concurrency is not None:
            argv += ["--concurrency", str(concurrency)]
        if hostname is not None:
            argv += ["--hostname", hostname]
        if metrics_port is not None:
            from worker.metrics import serve

            serve(metrics_port, addr=metrics_host)
        # `worker_main` drops the worker's exit status; `start` returns it.
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
    as_json: Annotated[
        bool, typer.Option("--json", help='One {"image", "submission"} object per line.')
    ] = False,
    ids_only: Annotated[
        bool, typer.Option("--ids", help="Only the submission ids, one per line.")
    ] = False,
) -> None:
    """Queue images for review; prints each image and its submission id, tab-separated.

    The id is the last field of each line (`cut -f2`); `--ids` prints the ids alone,
    `--json` one object per line. A file that cannot be sent (unreadable, too large) or
    a URL the workers will refuse (a private or loopback address) is reported and
    skipped, and the rest are sent; the command then exits 1 with a summary on stderr.
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
    from worker.fetch import url_refusal
    from worker.scan import find_images

    if as_json and ids_only:
        raise typer.BadParameter("give --json or --ids, not both", param_hint="--ids")

    settings = make_settings(db=db)
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
        raise unknown_industry(exc) from None
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
            refusal = url_refusal(image, settings) if is_url(image) else None
            if refusal is not None:
                failed.append(image)
                stderr.print(f"error: {refusal}", markup=False, highlight=False)
                continue
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
            if as_json:
                print(json.dumps({"image": image, "submission": submission},
                                 ensure_ascii=False), flush=True)
            elif ids_only:
                print(submission, flush=True)
            else:
                print(f"{image}\t{submission}", flush=True)
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
    """`--metadata` and `--callback-url` as submission metadata (usage errors: exit 2)."""
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


@app.command("rescan")
def rescan_command(
    since: SinceOption = None,
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
    from rules.schema import Decision
    from worker.db import Store
    from worker.rescan import default_jobs, rescan
    from worker.scan import progress_bar

    if decision is not None and decision not in {d.value for d in Decision}:
        raise typer.BadParameter(
            f"{decision!r} is not one of {', '.join(d.value for d in Decision)}",
            param_hint="--decision",
        )
    settings = make_settings(rules=rules, db=db)
    ruleset = load_rules(settings.rules_dir)
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
    if not summary.judged:
        stdout.print(f"rule set {summary.ruleset}: every stored ad is judged with it already; "
                     "nothing to do", markup=False, highlight=False)
        return
    after = ", ".join(f"{n} {d}" for d, n in sorted(summary.after.items()))
    stdout.print(
        f"rule set {summary.ruleset}: {summary.judged} stored ads judged again "
        f"({summary.changed} decisions changed; now {after}), {summary.written} verdicts "
        f"written in {summary.seconds:.1f} s ({summary.rate:.0f} ads/s)",
        markup=False, highlight=False,
    )
