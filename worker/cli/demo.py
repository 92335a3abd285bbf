"""``adreview demo``: sample ads scanned with the embedded defaults.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from worker.cli._common import app, make_settings, stderr, stdout


@app.command("demo")
def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the sample ads, database and drawings.")
    ] = Path("demo-out"),
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Worker processes.")] = None,
) -> None:
    """Generate realistic sample ads, scan them with the embedded defaults, draw the evidence."""
    from worker.annotate import annotate
    from worker.db import Store
    from worker.samples import demo_ads
    from worker.scan import run_scan

    ads = out / "ads"
    if not ads.is_dir() or not any(ads.iterdir()):
        stdout.print(f"writing sample ads to {ads}/ ...", markup=False, highlight=False)
        demo_ads(ads)
    settings = make_settings(db=f"sqlite:///{(out / 'adreview.db').resolve()}")
    code = run_scan([ads], settings, jobs=jobs, out=stdout, err=stderr)
    if code:
        raise typer.Exit(code)
    drawn = out / "annotated"
    drawn.mkdir(parents=True, exist_ok=True)
    count = 0
    with Store.open(settings.database_url) as store:
        for item in store.current_verdicts():
            if not item.verdict.matches or not item.source.startswith("scan:"):
                continue
            path = Path(item.source.removeprefix("scan:"))
            image = annotate(path.read_bytes(), item.verdict.matches)
            image.save(drawn / f"{path.stem}.png", format="PNG")
            count += 1
    stdout.print(
        f"{count} annotated images in {drawn}/ (red: reject, amber: review). "
        f"Try: .venv/bin/adreview verdicts --db sqlite:///{out / 'adreview.db'}",
        markup=False, highlight=False,
    )
