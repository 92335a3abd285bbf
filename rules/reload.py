"""A rule set that follows its folder: edits are picked up without restarting the worker.

``ReloadingRuleSet(folder).current()`` is cheap enough to call before every task: it
takes a fingerprint of the folder (every rule file's path, size, modification time and
inode, the way ``load_ruleset`` finds them) and loads the rules again only when that
fingerprint changed. A rule set that fails to load is logged, counted in
``adreview_ruleset_reload_failures_total`` and kept in ``last_error``, while the last
good rule set goes on serving; the broken edit is not tried again until the folder
changes once more.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from prometheus_client import Counter

from rules.engine import RuleSet
from rules.loader import load_ruleset, rule_files
from worker.errors import RuleError, RuleProblem

log = logging.getLogger(__name__)

#: Rule sets loaded after a change of the folder (the first load is not counted).
RELOADS = Counter("adreview_ruleset_reloads_total", "Rule sets reloaded after an edit.")
#: Edited rule sets that failed to load (the last good one kept serving).
RELOAD_FAILURES = Counter(
    "adreview_ruleset_reload_failures_total",
    "Edited rule sets that failed to load; the last good rule set kept serving.",
)

#: One rule file as the fingerprint sees it: (path, size, mtime in ns, inode).
FileStamp = tuple[str, int, int, int]


def fingerprint(folder: Path) -> tuple[FileStamp, ...]:
    """What changes when a rule file is added, removed, replaced or edited.

    A missing folder (or one being replaced) gives an empty fingerprint; loading it then
    fails with the loader's own message.
    """
    stamps: list[FileStamp] = []
    try:
        files = rule_files(folder) if folder.is_dir() else []
    except OSError:
        return ()
    for path in files:
        try:
            info = path.stat()
        except OSError:  # removed between the listing and the stat
            continue
        stamps.append((str(path), info.st_size, info.st_mtime_ns, info.st_ino))
    return tuple(stamps)


class ReloadingRuleSet:
    """The rule set of a folder, loaded again whenever the folder's files change.

    The first load happens in the constructor and raises ``RuleError`` as usual (a worker
    must not start without rules). Later failures never raise from ``current()``: the
    last good rule set is returned and ``last_error`` says what is wrong, until an edit
    that loads clears it. ``on_change`` is called with every newly loaded rule set whose
    version differs from the one it replaces (e.g. to store it so verdicts can be
    explained). Safe to share between threads.
    """

    def __init__(
        self, folder: Path | str, on_change: Callable[[RuleSet], None] | None = None
    ) -> None:
        self.folder = Path(folder)
        self.on_change = on_change
        self.last_error: RuleError | None = None
        self.reloads = 0
        self.failures = 0
        self._lock = threading.Lock()
        self._seen = fingerprint(self.folder)
        self._ruleset = load_ruleset(self.folder)

    @property
    def version(self) -> str:
        """The version of the rule set now serving (without checking the folder)."""
        return self._ruleset.version

    def current(self) -> RuleSet:
        """The newest rule set that loads: reloaded first when the folder has changed."""
        stamp = fingerprint(self.folder)
        if stamp == self._seen:
            return self._ruleset
        with self._lock:
            if stamp == self._seen:  # another thread reloaded meanwhile
                return self._ruleset
            self._seen = stamp
            try:
                loaded = load_ruleset(self.folder)
            except RuleError as exc:
                self._failed(exc)
                return self._ruleset
            except OSError as exc:  # a file vanished between the listing and the read
                self._failed(RuleError([RuleProblem(str(self.folder), None, str(exc))]))
                return self._ruleset
            self.last_error = None
            previous, self._ruleset = self._ruleset, loaded
            self.reloads += 1
            RELOADS.inc()
            if loaded.version != previous.version:
                log.info("rule set %s reloaded from %s (was %s)", loaded.version,
                         self.folder, previous.version)
                self._notify(loaded)
            return loaded

    def _notify(self, loaded: RuleSet) -> None:
        if self.on_change is None:
            return
        try:
            self.on_change(loaded)
        except Exception:  # recording the new rules must not stop them from serving
            log.exception("recording rule set %s failed", loaded.version)

    def _failed(self, error: RuleError) -> None:
        self.last_error = error
        self.failures += 1
        RELOAD_FAILURES.inc()
        log.error("rule set in %s failed to load; still serving %s:\n%s", self.folder,
                  self._ruleset.version, error)


__all__ = ["RELOADS", "RELOAD_FAILURES", "ReloadingRuleSet", "fingerprint"]
