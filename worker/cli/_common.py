"""What every command shares: the ``adreview`` app, the consoles, common options
(``--rules``, ``--db``, ``--engine``, ``--industry``, ``--fail-on``) and their parsing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from typer.core import TyperGroup

from worker.errors import AdreviewError, RuleError
from worker.settings import Settings, get_settings

#: The order ``adreview -h`` lists the commands in: reviewing, the queue, the API, rules,
#: then set-up.
COMMAND_ORDER = ("scan", "verdicts", "show", "annotate", "submit", "worker", "requeue",
                 "rescan", "serve", "keys", "rules", "migrate", "demo")


class _Commands(TyperGroup):
    """The top-level group, listing its commands in ``COMMAND_ORDER``."""

    def list_commands(self, ctx: Any) -> list[str]:  # typer's own click Context
        names = super().list_commands(ctx)
        return sorted(names, key=lambda n: COMMAND_ORDER.index(n) if n in COMMAND_ORDER
                      else len(COMMAND_ORDER))


app = typer.Typer(
    name="adreview",
    cls=_Commands,
    help="Ad-image compliance review: OCR ad images and flag banned advertising claims.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain click help: paragraphs re-wrapped to the terminal, no type tags on flags.
    rich_markup_mode=None,
    # Sub-commands inherit these from the top context.
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
def gate(fail_on: FailOn | None) -> Iterator[None]:
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


def rules_dir_of(option: Path | None) -> Path:
    return option if option is not None else get_settings().rules_dir


IndustryOption = Annotated[
    str | None,
    typer.Option("--industry", help="The ad's industry, an id the rule set declares: rules "
                 "limited to or exempt in industries apply accordingly."),
]


def unknown_industry(exc: Exception) -> typer.BadParameter:
    """A refused ``--industry`` as a usage error (exit 2) naming the known industries."""
    return typer.BadParameter(str(exc), param_hint="--industry")


EngineOption = Annotated[
    str | None, typer.Option("--engine", help="OCR engine (default: $ADREVIEW_OCR_ENGINE).")
]
DbOption = Annotated[
    str | None, typer.Option("--db", help="Database URL (default: $ADREVIEW_DATABASE_URL).")
]


SinceOption = Annotated[
    str | None,
    typer.Option("--since", help="Verdicts judged at or after: ISO time or 2h, 3d."),
]


def make_settings(
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
