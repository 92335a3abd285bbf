"""`adreview serve`: the HTTP API and the reviewer console."""

from __future__ import annotations

from typing import Annotated

import typer

from worker.cli._common import DbOption, app
from worker.cli.rules_folder import announce_folder
from worker.settings import get_settings


@app.command("serve")
def serve_command(
    host: Annotated[
        str, typer.Option("--host", help="Address to bind (0.0.0.0 to listen on every one).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8000,
    workers: Annotated[int, typer.Option("--workers", help="uvicorn worker processes.")] = 1,
    db: DbOption = None,
) -> None:
    """Serve the HTTP API with uvicorn (settings from ADREVIEW_* variables).

    With `--workers` above 1, `/metrics` serves the counters of every worker process:
    unless `PROMETHEUS_MULTIPROC_DIR` is set already, it is pointed at a fresh temporary
    folder (removed when the server exits) before the workers start. Forwarded headers
    are applied by the app itself, from `ADREVIEW_TRUSTED_PROXIES` only.
    """
    import os
    import shutil
    import tempfile

    import uvicorn

    if db is not None:
        # Worker processes build their app from the environment.
        os.environ["ADREVIEW_DATABASE_URL"] = db
        get_settings.cache_clear()
    announce_folder(get_settings().rules_dir)
    own_folder: str | None = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        own_folder = tempfile.mkdtemp(prefix="adreview-api-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = own_folder
    try:
        # proxy_headers stays off: the app trusts forwarded headers from the configured
        # proxies only (uvicorn's default would trust 127.0.0.1 by itself).
        uvicorn.run("worker.api.app:app_from_env", factory=True, host=host, port=port,
                    workers=workers, proxy_headers=False)
    finally:
        if own_folder is not None:
            shutil.rmtree(own_folder, ignore_errors=True)
