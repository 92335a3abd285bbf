"""`adreview demo`: sample ads scanned with the embedded defaults."""

from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from worker.cli._common import DbOption, app, make_settings, stderr, stdout


@app.command("demo")
def demo(
    out: Annotated[
        Path, typer.Option("--out", help="Folder for the sample ads and drawings.")
    ] = Path("demo-out"),
    jobs: Annotated[int | None, typer.Option("--jobs", "-j", help="Worker processes.")] = None,
    db: DbOption = None,
) -> None:
    """Generate realistic sample ads, scan them with the embedded defaults, draw the evidence.

    The verdicts go to the database every command uses (`--db`, else
    `$ADREVIEW_DATABASE_URL`, else `./adreview.db`), so `adreview serve` run from
    the same folder shows them in the reviewer console.
    """
    from worker.annotate import annotate
    from worker.db import Store
    from worker.samples import demo_ads
    from worker.scan import run_scan

    ads = out / "ads"
    if not ads.is_dir() or not any(ads.iterdir()):
        stdout.print(f"writing sample ads to {ads}/ ...", markup=False, highlight=False)
        demo_ads(ads)
    settings = make_settings(db=db)
    code = run_scan([ads], settings, jobs=jobs, out=stdout, err=stderr)
    if code:
        raise typer.Exit(code)
    drawn = out / "annotated"
    drawn.mkdir(parents=True, exist_ok=True)
    count = 0
    folder = ads.resolve()
    with Store.open(settings.database_url) as store:
        for item in store.current_verdicts():
            path = Path(item.source.removeprefix("scan:"))
            if (not item.verdict.matches or not item.source.startswith("scan:")
                    or path.parent != folder):
                continue
            image = annotate(path.read_bytes(), item.verdict.matches)
            image.save(drawn / f"{path.stem}.png", format="PNG")
            count += 1
    command = own_command()
    given = [] if db is None else ["--db", db]
    keys = shlex.join([*command, "keys", "create", "--role", "reviewer", "--name", "demo",
                       *given])
    serve = shlex.join([*command, "serve", *given])
    stdout.print(
        f"{count} annotated images in {drawn}/ (red: reject, amber: review).\n"
        f"To review them in the console, make a reviewer key and start the server:\n"
        f"  {keys}\n  {serve}\n"
        "then open http://127.0.0.1:8000/review and sign in with the key.",
        markup=False, highlight=False,
    )


def own_command() -> list[str]:
    """How to run `adreview` again from here: the bare name when it is on the PATH,
    else the path of the script that is running (`.venv/bin/adreview`)."""
    script = Path(sys.argv[0])
    found = shutil.which("adreview")
    if script.name != "adreview" or not script.exists():
        return ["adreview"] if found else [sys.executable, "-m", "worker.cli"]
    if found is not None and Path(found).resolve() == script.resolve():
        return ["adreview"]
    try:
        return [str(script.resolve().relative_to(Path.cwd()))]
    except ValueError:
        return [str(script.resolve())]
