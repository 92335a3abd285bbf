"""`adreview keys`: make, list and revoke HTTP API keys."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from worker.cli._common import DbOption, app, make_settings, stderr, stdout

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
    with Store.open(make_settings(db=db).database_url) as store:
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

    with Store.open(make_settings(db=db).database_url) as store:
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

    with Store.open(make_settings(db=db).database_url) as store:
        record = ApiKeys(store).revoke(key_id)
    stdout.print(f"revoked key {record.id} ({record.role.value}, {record.name})",
                 markup=False, highlight=False)
