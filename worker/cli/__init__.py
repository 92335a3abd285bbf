"""The ``adreview`` command line.

User mistakes (a bad rule file, a missing path, an unknown engine) print one clear line
on stderr and exit non-zero; tracebacks are kept for real bugs.

Exit statuses: 0 done, 1 failed (or, under ``--fail-on``, something at or above the
threshold), 2 a usage error (or, under ``--fail-on``, nothing could be judged).
"""

from __future__ import annotations

import logging
import sys

# Each module adds its commands to ``app``.
from worker.cli import demo, keys, migrate, queue, review, rules, serve
from worker.cli._common import app, parse_since, stderr
from worker.errors import AdreviewError, RuleError

__all__ = ["app", "main", "parse_since"]
_COMMANDS = (demo, keys, migrate, queue, review, rules, serve)


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

