"""``adreview migrate``: the compose file's one-shot schema step."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import create_engine, inspect
from typer.testing import CliRunner

from worker.cli import app
from worker.db import head_revision


def test_migrate_creates_the_schema_and_a_second_run_changes_nothing(database_url: str) -> None:
    runner = CliRunner()
    first = runner.invoke(app, ["migrate", "--db", database_url])
    assert first.exit_code == 0, first.output
    assert f"schema at revision {head_revision()}" in first.output
    engine = create_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"submissions", "verdicts", "alembic_version"} <= tables
    again = runner.invoke(app, ["migrate", "--db", database_url])
    assert again.exit_code == 0, again.output
    assert f"schema at revision {head_revision()}" in again.output


def test_migrate_against_an_unreachable_database_fails_with_one_line() -> None:
    result = CliRunner().invoke(app, ["migrate", "--db",
                                      "postgresql+psycopg://nobody@127.0.0.1:1/none"])
    assert result.exit_code != 0
    assert "cannot use database" in str(result.exception)


def test_a_first_migration_logs_one_line_per_fact_and_no_plugin_set_up(tmp_path: Path) -> None:
    # A worker or API process migrates at start with INFO logging on.
    script = ("import logging, sys\n"
              "logging.basicConfig(level=logging.INFO, format='%(name)s: %(message)s')\n"
              "from worker.db import Store\n"
              "Store.open(sys.argv[1]).close()\n")
    done = subprocess.run([sys.executable, "-c", script, f"sqlite:///{tmp_path / 'a.db'}"],
                          capture_output=True, text=True, timeout=120, check=True)
    lines = done.stderr.splitlines()
    assert "setup plugin" not in done.stderr
    assert any("Running upgrade" in line for line in lines)
    assert len(lines) == len(set(lines))
