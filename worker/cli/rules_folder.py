"""Which rule folder a command uses, said on stderr, and the rule editor's own copy.

A package installed without ``-e`` reads the rules copied into ``site-packages``, not
the checkout's ``rules/shipped``: every command that loads rules says which folder and
version it uses, and, while that is the shipped set, notes a ``rules`` folder in the
working directory that differs from it.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

from worker.cli._common import stderr
from worker.errors import ConfigError, RuleError
from worker.settings import SHIPPED_RULES_DIR

if TYPE_CHECKING:
    from rules import RuleSet

#: Where a ``rules`` folder in the working directory may hold rule files (a checkout
#: keeps them in ``rules/shipped``, a copy made by ``rules init rules`` in ``rules``).
LOCAL_FOLDERS = (Path("rules/shipped"), Path("rules"))

#: The first line of a rule file that tells YAML editors where the schema is.
SCHEMA_LINE = b"# yaml-language-server:"


def load_rules(folder: Path) -> RuleSet:
    """The rule set of ``folder``, after saying on stderr which folder and version it is."""
    from rules import load_ruleset

    ruleset = load_ruleset(folder)
    announce(folder, ruleset.version)
    return ruleset


def announce(folder: Path, version: str | None) -> None:
    """One stderr line naming the rule folder in use (and its version when known), and a
    note when the working directory holds rule files that differ from it."""
    shown = f" (version {version})" if version else ""
    stderr.print(f"rules: {folder.resolve()}{shown}", markup=False, highlight=False)
    note_local(folder)


def note_local(folder: Path) -> None:
    """A stderr note when the working directory holds rule files differing from ``folder``."""
    local = differing_local_folder(folder)
    if local is not None:
        stderr.print(f"note: {local} differs from the rules in use; to use it: "
                     f"export ADREVIEW_RULES_DIR={local}", markup=False, highlight=False)


def differing_local_folder(in_use: Path, cwd: Path | None = None) -> Path | None:
    """The working directory's rule folder when the shipped rules are in use (no folder
    was chosen) and it holds rule files that differ from them, else None."""
    from rules.loader import rule_files

    if in_use.resolve() != SHIPPED_RULES_DIR.resolve():
        return None  # a folder chosen on purpose (--rules, ADREVIEW_RULES_DIR)
    base = cwd or Path.cwd()
    for candidate in LOCAL_FOLDERS:
        folder = (base / candidate).resolve()
        if not folder.is_dir() or not any(p.parent == folder for p in rule_files(folder)):
            continue
        try:
            if folder == in_use.resolve() or _digest(folder) == _digest(in_use):
                return None
        except OSError:
            return None
        return folder
    return None


def _digest(folder: Path) -> str:
    """A hash of every rule file's path (relative to ``folder``) and bytes, leaving out
    the editor's schema line (``rules init`` points it at its own copy of the schema)."""
    from rules.loader import rule_files

    root = folder.resolve()
    digest = hashlib.sha256()
    for path in rule_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        lines = path.read_bytes().splitlines(keepends=True)
        kept = b"".join(line for line in lines if not line.startswith(SCHEMA_LINE))
        digest.update(hashlib.sha256(kept).digest())
    return digest.hexdigest()


def init_folder(target: Path) -> list[Path]:
    """Copy the shipped rule set (and the rule files' JSON Schema) into ``target``, a new
    or empty folder; returns the rule files written. Refuses a folder that holds files."""
    from rules.loader import rule_files

    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"{target} exists and is not an empty folder; choose a new one")
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for source in rule_files(SHIPPED_RULES_DIR):
        destination = target / source.relative_to(SHIPPED_RULES_DIR)
        destination.parent.mkdir(parents=True, exist_ok=True)
        text = source.read_text(encoding="utf-8").replace(
            "$schema=../rules.schema.json", "$schema=rules.schema.json")
        destination.write_text(text, encoding="utf-8")
        written.append(destination)
    schema = SHIPPED_RULES_DIR.parent / "rules.schema.json"
    if schema.is_file():
        shutil.copyfile(schema, target / "rules.schema.json")
    return written


def announce_folder(folder: Path) -> None:
    """For long-running commands (``serve``, ``worker``): name the folder and version the
    processes will load; a rule set that does not load is reported, not fatal here (the
    processes refuse it themselves and say so)."""
    from rules import load_ruleset

    try:
        version: str | None = load_ruleset(folder).version
    except RuleError as exc:
        version = None
        stderr.print(f"warning: the rules in {folder.resolve()} do not load "
                     f"({len(exc.problems)} problem(s); `adreview rules check` lists them)",
                     markup=False, highlight=False)
    announce(folder, version)
