"""The reviewer's pages in a real browser: Debian's headless Chromium, driven by Playwright,
against a real uvicorn server on a free port, a real SQLite database holding verdicts of
rendered ad images stored on disk, and real API keys."""

from __future__ import annotations

import io
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn
from PIL import Image

from models.base import FakeEngine, TextLine
from rules import load_ruleset
from rules.schema import Decision
from worker.api import create_app
from worker.db import Store
from worker.db.keys import ApiKeys
from worker.db.models import ApiRole, ReviewAction
from worker.pipeline import review
from worker.samples import render_ad
from worker.settings import Settings

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parents[2]
VIEWPORT = {"width": 1280, "height": 900}
#: The flags a closed network needs (no background connections, no sandbox as root).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]


def _chromium() -> str:
    """Debian's chromium, installed by scripts/ensure-browser.sh when missing."""
    if not Path(CHROMIUM).exists():
        script = ROOT / "scripts" / "ensure-browser.sh"
        done = subprocess.run([str(script)], capture_output=True, text=True, check=False)
        if done.returncode != 0 or not Path(CHROMIUM).exists():
            pytest.skip(f"chromium could not be installed ({script}): "
                        f"{(done.stderr or done.stdout).strip()[-300:]}")
    return CHROMIUM


@dataclass(frozen=True)
class Ad:
    """A stored ad: its submission and the machine decision."""

    submission: str
    decision: Decision
    path: Path


def _stored_ad(store: Store, folder: Path, name: str, lines: list[str], seed: int) -> Ad:
    """Render an ad to a PNG file, review it (the OCR lines are the drawn text, one box per
    line) and store the verdict as ``adreview scan`` does."""
    image = render_ad(lines, seed=seed, size=(480, 360), colours=((250, 250, 250), (20, 20, 20)))
    path = folder / f"{name}.png"
    image.save(path)
    boxes = [TextLine(text, ((20.0, 40.0 + 60 * i), (440.0, 40.0 + 60 * i),
                             (440.0, 90.0 + 60 * i), (20.0, 90.0 + 60 * i)), 0.98)
             for i, text in enumerate(lines)]
    data = path.read_bytes()
    settings = Settings()
    ruleset = load_ruleset(settings.rules_dir)
    store.save_ruleset(ruleset)
    verdict = review(data, FakeEngine(boxes), ruleset, settings)
    submission = store.add_scan_submission(str(path.resolve()), verdict.sha256)
    store.record_verdict(submission, verdict)
    return Ad(submission, verdict.decision, path)


@dataclass(frozen=True)
class Server:
    """A running server and what it serves."""

    url: str
    store: Store
    keys: dict[str, str]
    ads: dict[str, Ad]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """uvicorn on a free port in a thread, serving a SQLite database with four ads."""
    url = f"sqlite:///{tmp_path / 'adreview.db'}"
    store = Store.open(url)
    folder = tmp_path / "ads"
    folder.mkdir()
    ads = {
        "clean": _stored_ad(store, folder, "clean", ["新款面膜", "温和补水"], 1),
        "first": _stored_ad(store, folder, "first", ["全网第一", "销量领先"], 2),
        "cure": _stored_ad(store, folder, "cure", ["药到病除", "根治痘痘"], 3),
        "best": _stored_ad(store, folder, "best", ["最佳选择", "国家级品质"], 4),
    }
    keys = {role.value: ApiKeys(store).create(role, f"{role.value}-person")[1]
            for role in ApiRole}
    app = create_app(Settings(database_url=url), cors_origins=[])
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", ws="none", lifespan="on")
    uv = uvicorn.Server(config)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 20
    while not uv.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    yield Server(base, store, keys, ads)
    uv.should_exit = True
    thread.join(10)
    sock.close()
    store.close()


def test_the_stored_ads_cover_every_queue_case(server: Server) -> None:
    decisions = {name: ad.decision for name, ad in server.ads.items()}
    assert decisions["clean"] is Decision.PASS
    assert all(decisions[n] in (Decision.REVIEW, Decision.REJECT)
               for n in ("first", "cure", "best"))


def test_pages_need_a_login_and_refuse_forged_posts(server: Server) -> None:
    with httpx.Client(base_url=server.url, follow_redirects=False) as client:
        answer = client.get("/review")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/review/login")
        ad = server.ads["first"]
        assert client.get(f"/review/items/{ad.submission}/annotated.png").status_code == 401
        # A reviewer cookie without the CSRF token (what a forged cross-site form sends).
        client.cookies.set("adreview_key", server.keys["reviewer"], path="/review")
        forged = client.post(f"/review/items/{ad.submission}/decision",
                             data={"action": "confirm", "csrf": "x" * 40})
        assert forged.status_code == 403
    assert server.store.reviews(ad.submission) == []


@pytest.mark.slow
def test_a_reviewer_confirms_and_overrides_in_chromium(server: Server, tmp_path: Path) -> None:
    executable = _chromium()
    from playwright.sync_api import expect, sync_playwright

    first, cure = server.ads["first"], server.ads["cure"]
    before = {n: server.store.current_verdict(a.submission) for n, a in server.ads.items()}
    shot = tmp_path / "review-queue.png"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            # A producer key is refused at the login form.
            page = browser.new_page(viewport=VIEWPORT)
            page.goto(f"{server.url}/review")
            assert page.url.startswith(f"{server.url}/review/login")
            page.fill("input[name=key]", server.keys["producer"])
            with page.expect_response(lambda r: r.request.method == "POST") as refused:
                page.click("button[type=submit]")
            assert refused.value.status == 403
            expect(page.locator(".error")).to_contain_text("producer")
            page.goto(f"{server.url}/review")
            assert "/review/login" in page.url
            page.close()

            context = browser.new_context(viewport=VIEWPORT)
            context.add_cookies([{"name": "adreview_lang", "value": "en",
                                  "domain": "127.0.0.1", "path": "/"}])
            page = context.new_page()
            page.goto(f"{server.url}/review?limit=2")
            page.fill("input[name=key]", server.keys["reviewer"])
            page.click("button[type=submit]")
            page.wait_for_url(f"{server.url}/review?limit=2")
            cookie = next(c for c in context.cookies() if c["name"] == "adreview_key")
            assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"

            # Oldest first, two per page: first, cure; then best; the pass is not queued.
            items = page.locator(".row")
            expect(items).to_have_count(2)
            assert items.evaluate_all("els => els.map(e => e.dataset.submission)") == [
                first.submission, cure.submission]
            page.click("a.next")
            expect(items).to_have_count(1)
            assert items.first.get_attribute("data-submission") == server.ads["best"].submission
            assert page.locator("a.next").count() == 0
            page.goto(f"{server.url}/review")

            # Open the first ad: evidence and the image, loaded for real.
            page.click(f"#item-{first.submission} a.open")
            page.wait_for_url(f"**/review/items/{first.submission}")
            evidence = page.locator(".hit").first
            expect(evidence.locator("mark")).to_have_text("全网第一")
            expect(evidence.locator(".rule")).not_to_be_empty()
            image = page.locator(".picture img")
            page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                                   arg=image.element_handle())
            assert image.evaluate("img => [img.naturalWidth, img.naturalHeight]") == [480, 360]
            page.click("button[data-primary]")
            # It leaves the queue; the next unreviewed one opens, the message names the ad.
            page.wait_for_url(f"**/review/items/{cure.submission}?saved=*")
            expect(page.locator(".flash")).to_contain_text("Saved: ")

            # Override the cure ad, with a note, by the mouse.
            page.goto(f"{server.url}/review")
            page.click(f"#item-{cure.submission} a.open")
            page.wait_for_url(f"**/review/items/{cure.submission}")
            page.locator("textarea[name=note]").fill("药品广告，已有批文")
            page.locator("button.pass").click()
            page.wait_for_url(f"**/review/items/{server.ads['best'].submission}?saved=*")
            page.goto(f"{server.url}/review?view=done")
            expect(page.locator(f"#item-{cure.submission} .effective")).to_contain_text("pass")
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(shot))
        finally:
            browser.close()

    confirmed = server.store.reviews(first.submission)
    assert [(r.reviewer, r.action, r.decision) for r in confirmed] == [
        ("reviewer-person", ReviewAction.CONFIRM, first.decision)]
    overridden = server.store.reviews(cure.submission)
    assert [(r.reviewer, r.action, r.decision, r.note) for r in overridden] == [
        ("reviewer-person", ReviewAction.OVERRIDE, Decision.PASS, "药品广告，已有批文")]
    assert server.store.reviews(server.ads["best"].submission) == []
    after = {n: server.store.current_verdict(a.submission) for n, a in server.ads.items()}
    assert {n: (v.id, v.verdict, v.judged) for n, v in after.items() if v} == {
        n: (v.id, v.verdict, v.judged) for n, v in before.items() if v
    }  # the machine verdicts are untouched

    data = shot.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    with Image.open(io.BytesIO(data)) as picture:
        assert picture.size == (VIEWPORT["width"], VIEWPORT["height"])
        assert len(picture.convert("L").getcolors(256) or ()) > 10  # a rendered page, not blank
