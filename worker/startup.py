"""What a worker checks before it takes any task: that its database opens and its rule
set loads.

A worker whose database cannot be opened would start its pool anyway, log a traceback
per pool process, report ready, and retry every task it takes without ever writing a
verdict. ``DatabaseCheck``, a Celery worker bootstep, opens (and migrates) the database
in the main process before the pool starts; when that fails the worker logs one line and
exits non-zero - ``EX_UNAVAILABLE`` (69) when the database cannot be reached,
``EX_CONFIG`` (78) when its URL or schema is unusable - so that a supervisor restarts it
later and an operator sees why. ``RulesCheck`` does the same for the rule folder: a
worker whose rules do not load exits with ``EX_CONFIG`` naming every problem, instead of
taking messages it could not judge.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import bootsteps  # type: ignore[import-untyped]

from worker.errors import AdreviewError
from worker.settings import Settings, get_settings

log = logging.getLogger(__name__)

#: Exit status of a worker whose database cannot be reached.
EXIT_UNAVAILABLE = os.EX_UNAVAILABLE
#: Exit status of a worker whose database URL or schema is unusable.
EXIT_CONFIG = os.EX_CONFIG


def check_database(settings: Settings) -> None:
    """Open (and migrate) ``settings.database_url`` once; on failure log one line and raise
    ``SystemExit`` with ``EXIT_UNAVAILABLE`` or ``EXIT_CONFIG``."""
    from worker.db import DatabaseUnavailable, Store

    try:
        store = Store.open(settings.database_url)
    except DatabaseUnavailable as exc:
        log.critical("worker not started: the database is unavailable: %s", exc)
        raise SystemExit(EXIT_UNAVAILABLE) from None
    except AdreviewError as exc:
        log.critical("worker not started: the database cannot be used: %s", exc)
        raise SystemExit(EXIT_CONFIG) from None
    store.close()


def check_rules(settings: Settings) -> None:
    """Load ``settings.rules_dir`` once; on failure log its problems and raise
    ``SystemExit(EXIT_CONFIG)``: a worker with no usable rule set must not take messages
    it can only fail."""
    from rules import load_ruleset
    from worker.errors import RuleError

    try:
        ruleset = load_ruleset(settings.rules_dir)
    except RuleError as exc:
        log.critical("worker not started: the rule set in %s does not load:\n%s",
                     settings.rules_dir, exc)
        raise SystemExit(EXIT_CONFIG) from None
    except OSError as exc:
        log.critical("worker not started: the rule folder %s cannot be read: %s",
                     settings.rules_dir, exc)
        raise SystemExit(EXIT_CONFIG) from None
    log.info("rule set %s loads from %s", ruleset.version, settings.rules_dir)


class RulesCheck(bootsteps.Step):  # type: ignore[misc]
    """Worker bootstep: ``check_rules`` while the worker is built, before any pool
    process exists."""

    name = "adreview.rules"

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        check_rules(get_settings())


class DatabaseCheck(bootsteps.Step):  # type: ignore[misc]
    """Worker bootstep: ``check_database`` while the worker is built, before any pool
    process exists."""

    name = "adreview.database"

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        super().__init__(parent, **kwargs)
        check_database(get_settings())


__all__ = ["EXIT_CONFIG", "EXIT_UNAVAILABLE", "DatabaseCheck", "RulesCheck", "check_database",
           "check_rules"]
