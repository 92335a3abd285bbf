"""`adreview annotate ID` for every kind of submission whose image is kept: one sent
through the API, one queued by the Python client (and ``adreview submit``), one fetched
by URL; the drawing is the API's ``/annotated`` image. Real app, real databases, real
Redis (a queue no worker reads); verdicts are recorded in the store as a worker would."""

from __future__ import annotations

import hashlib
import io
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from rules.schema import Decision
from tests.worker.test_api import (  # the API fixtures and helpers
    auth,
    broker,
    client,
    evidence,
    keys,
    png,
    settings,
    store,
)
from worker.cli import app as cli_app
from worker.client import submit
from worker.db import Store
from worker.settings import Settings
from worker.verdict import Verdict

# Fixtures, used by name below.
__all__ = ["broker", "client", "keys", "settings", "store"]

runner = CliRunner()
RED = (220, 30, 30)


def judge(store: Store, ident: str) -> None:
    """Record a reject verdict with one boxed match, as a worker would."""
    store.record_verdict(ident, Verdict(Decision.REJECT, (evidence(),), "rules-v1", "fake",
                                        "fake-1", None, created=datetime.now(UTC)))


def annotate(ident: str, out: Path, settings: Settings) -> Image.Image:
    """Run ``adreview annotate ID -o OUT`` and open what it wrote."""
    result = runner.invoke(cli_app, ["annotate", ident, "-o", str(out), "--db",
                                     settings.database_url])
    assert result.exit_code == 0, result.output
    assert f"1 matches drawn: {out}" in result.stdout
    return Image.open(out).convert("RGB")


def assert_boxed(image: Image.Image, client: TestClient, ident: str, reviewer: str) -> None:
    """The match's box is drawn in red, and the drawing is the API's annotated image."""
    assert image.size == (200, 120)
    assert image.getpixel((20, 40)) == RED  # the left edge of the box at (20, 20)-(120, 60)
    served = client.get(f"/v1/submissions/{ident}/annotated", headers=auth(reviewer))
    assert served.status_code == 200, served.text
    assert Image.open(io.BytesIO(served.content)).convert("RGB").tobytes() == image.tobytes()


def test_annotate_draws_a_submission_sent_through_the_api(
    client: TestClient, store: Store, keys: dict[str, str], settings: Settings, tmp_path: Path,
) -> None:
    sent = client.post("/v1/submissions", headers=auth(keys["producer"]),
                       files={"file": ("ad.png", png(), "image/png")})
    assert sent.status_code == 202, sent.text
    ident = sent.json()["id"]
    judge(store, ident)

    drawn = annotate(ident, tmp_path / "api.png", settings)

    assert_boxed(drawn, client, ident, keys["reviewer"])


def test_annotate_draws_a_queued_submission(
    client: TestClient, store: Store, keys: dict[str, str], settings: Settings, tmp_path: Path,
) -> None:
    image = tmp_path / "ad.png"
    image.write_bytes(png())
    ident = submit(image, settings=settings)
    judge(store, ident)
    image.unlink()  # the queued copy is what is drawn, not the file it came from

    drawn = annotate(ident, tmp_path / "queued.png", settings)

    assert_boxed(drawn, client, ident, keys["reviewer"])


def test_annotate_draws_a_url_submission_once_a_worker_has_kept_its_image(
    client: TestClient, store: Store, keys: dict[str, str], settings: Settings, tmp_path: Path,
) -> None:
    ident = submit("https://cdn.example.com/ad.png", settings=settings)
    judge(store, ident)
    not_yet = runner.invoke(cli_app, ["annotate", ident, "-o", str(tmp_path / "x.png"),
                                      "--db", settings.database_url])
    # a project error: ``main`` prints it in one line and exits 1
    assert "came by URL and its image is not kept here" in str(not_yet.exception)
    data = png()
    store.keep_fetched_image(ident, hashlib.sha256(data).hexdigest(), data)

    drawn = annotate(ident, tmp_path / "url.png", settings)

    assert_boxed(drawn, client, ident, keys["reviewer"])
