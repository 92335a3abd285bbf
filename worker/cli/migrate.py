"""`adreview migrate`: the database schema and the declared API keys."""

from __future__ import annotations

import typer

from worker.cli._common import DbOption, app, make_settings, stderr, stdout


@app.command("migrate")
def migrate_command(db: DbOption = None) -> None:
    """Create or upgrade the database schema to the newest revision; prints the revision.

    Safe to run while workers are up and from several processes at once (one waits for
    the other); a database already at the newest revision is left alone. Keys declared in
    `ADREVIEW_API_KEYS` (`ROLE NAME KEY` per line, e.g. a secrets file) are then made
    sure of: added when missing, left alone when stored.
    """
    from worker.db import Store, make_engine, safe_url, upgrade
    from worker.db.errors import InvalidRecord
    from worker.db.keys import ApiKeys
    from worker.db.migrate import current_revision, translate_errors

    settings = make_settings(db=db)
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
