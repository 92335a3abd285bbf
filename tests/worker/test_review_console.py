"""The reviewer console in a real browser, keyboard only: Debian's headless Chromium driven
by Playwright against a real uvicorn server, a SQLite database of twenty queued ads (still
images, a long detail page, an animation whose claim is in one frame), two clean ones and
an error verdict, real API keys and a real signed-callback receiver.

Screenshots go to ``$ADREVIEW_SCREENSHOTS`` (default: the test's temporary folder)."""

from __future__ import annotations

import base64
import io
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from PIL import Image, ImageDraw

from models.base import FakeEngine, TextLine
from rules import load_ruleset
from rules.schema import Decision, Severity
from tests.worker.conftest import serving
from tests.worker.test_api_webhooks import Receiver, receiver_factory
from tests.worker.test_review_pages import CHROMIUM_ARGS, _chromium
from worker.api import create_app
from worker.api.webhooks import verify_signature
from worker.callbacks import deliver_due
from worker.db import Store
from worker.db.keys import ApiKeys
from worker.db.models import ApiRole
from worker.errors import ErrorCode
from worker.pipeline import review
from worker.samples import GIF_CLAIM, gif_frames, load_font
from worker.settings import Settings
from worker.verdict import Evidence, Verdict, VerdictError

__all__ = ["receiver_factory"]

SECRET = "console-callback-secret-for-tests"  # noqa: S105 - a test fixture
WIDE = {"width": 1280, "height": 900}
NARROW = {"width": 390, "height": 844}
#: The text of the queued still ads: a claim line and a plain one.
CLAIMS = ["全网第一", "药到病除", "最佳选择", "国家级品质", "根治痘痘", "销量第一", "100%有效",
          "永久祛斑", "零风险", "史上最低价", "绝对划算", "完美体验", "顶级品质", "全网第一",
          "最佳选择", "药到病除", "零风险", "完美体验"]


@dataclass(frozen=True)
class Console:
    """A running server, its store, keys, the callback receiver and the ads by name."""

    url: str
    store: Store
    keys: dict[str, str]
    receiver: Receiver
    queued: list[str]
    long_page: str
    animation: str
    error: str


def _submit(store: Store, data: bytes, ad_id: str, callback: str) -> str:
    return store.add_submission(None, "upload", ad_id=ad_id, metadata={
        "image_ref": {"inline": base64.b64encode(data).decode()}, "callback_url": callback})


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, format="PNG")
    return out.getvalue()


def _draw(lines: list[str], size: tuple[int, int] = (480, 360), font_size: int = 44,
          step: int = 90, top: int = 60, background: tuple[int, int, int] = (250, 250, 250)
          ) -> tuple[bytes, list[TextLine]]:
    """An ad drawn line by line, and the OCR lines with the boxes the text really has."""
    image = Image.new("RGB", size, background)
    draw = ImageDraw.Draw(image)
    font = load_font("sans-bold", font_size)
    read = []
    for i, text in enumerate(lines):
        y = top + step * i
        x0, y0, x1, y1 = draw.textbbox((30, y), text, font=font)
        draw.text((30, y), text, font=font, fill=(25, 25, 25))
        read.append(TextLine(text, ((x0, y0), (x1, y0), (x1, y1), (x0, y1)), 0.98))
    return _png(image), read


def _hit_box(line: TextLine, text: str, size: int) -> tuple[tuple[float, float], ...]:
    """The part of ``line``'s box that ``text`` covers (one font, left to right)."""
    font = load_font("sans-bold", size)
    (x0, y0), _, (_, y1), _ = line.box
    start = line.text.index(text)
    left = x0 + font.getlength(line.text[:start])
    right = left + font.getlength(text)
    return ((left, y0), (right, y0), (right, y1), (left, y1))


def _judged(store: Store, data: bytes, lines: list[TextLine], ad_id: str, callback: str,
            when: datetime) -> str:
    settings = Settings()
    ruleset = load_ruleset(settings.rules_dir)
    verdict = review(data, FakeEngine(lines), ruleset, settings)
    verdict = Verdict(verdict.decision, verdict.matches, verdict.ruleset, verdict.engine,
                      verdict.engine_version, verdict.sha256, verdict.error, verdict.timings,
                      created=when, industry=verdict.industry)
    ident = _submit(store, data, ad_id, callback)
    store.record_verdict(ident, verdict)
    return ident


@pytest.fixture
def console(tmp_path: Path, receiver_factory: type[Receiver]) -> Iterator[Console]:
    url = f"sqlite:///{tmp_path / 'adreview.db'}"
    store = Store.open(url)
    store.save_ruleset(load_ruleset(Settings().rules_dir))
    receiver = receiver_factory([])
    hook = receiver.url
    start = datetime.now(UTC) - timedelta(hours=1)
    tick = iter(range(1000))

    def when() -> datetime:
        return start + timedelta(seconds=next(tick))

    queued: list[str] = []

    def still(i: int, claim: str) -> None:
        data, read = _draw([claim, f"新品上市 限时优惠 {i}"])  # no two images alike
        queued.append(_judged(store, data, read, f"ad-{i + 1:02d}", hook, when()))

    # Oldest first: the queue shows the newest first.
    for i, claim in enumerate(CLAIMS[:9]):
        still(i, claim)
    # A long detail page: claims near the top and near the bottom of 3,400 px.
    long_lines = ["匠心工艺 细节之美", "全网第一 销量领先"] + ["用心做好每一件产品"] * 48 + [
        "国家级品质 值得信赖"]
    data, read = _draw(long_lines, size=(750, 3400), font_size=40, step=64, top=40,
                       background=(255, 248, 240))
    long_page = _submit(store, data, "ad-long", hook)
    store.record_verdict(long_page, Verdict(Decision.REJECT, (
        Evidence("absolute.first", "absolute", Severity.REJECT, "全网第一", "全网第一",
                 long_lines[1], _hit_box(read[1], "全网第一", 40), 0.96),
        Evidence("absolute.national", "absolute", Severity.REJECT, "国家级品质", "国家级品质",
                 long_lines[-1], _hit_box(read[-1], "国家级品质", 40), 0.95),
    ), "rules-demo", "fake", "fake-1", None, created=when()))
    queued.append(long_page)
    # An animation whose claim shows in frame 12 only.
    frames = gif_frames(seed=3, frames=20, claim_frame=12, shown=1)
    out = io.BytesIO()
    frames[0].image.save(out, format="GIF", save_all=True,
                         append_images=[f.image for f in frames[1:]], duration=100, loop=0,
                         disposal=1)
    claim = frames[12]
    hit, where = next((text, box) for text, box in zip(claim.lines, claim.boxes, strict=True)
                      if GIF_CLAIM[1] in text)
    evidence = Evidence("absolute.first", "absolute", Severity.REJECT, GIF_CLAIM[1],
                        GIF_CLAIM[1], hit, where, 0.97, frame=12)
    gif = _submit(store, out.getvalue(), "ad-gif", hook)
    store.record_verdict(gif, Verdict(Decision.REJECT, (evidence,), "rules-demo", "fake",
                                      "fake-1", None, created=when()))
    queued.append(gif)
    for i, claim in enumerate(CLAIMS[9:], start=9):
        still(i, claim)
    # Not queued: two clean ads and an error.
    for name in ("clean-1", "clean-2"):
        data, read = _draw(["温和补水", "新款面膜"])
        _judged(store, data, read, name, hook, when())
    error = _submit(store, b"not an image", "ad-broken", hook)
    store.record_verdict(error, Verdict(
        Decision.ERROR, (), "rules-demo", "fake", "fake-1", None,
        VerdictError(ErrorCode.INVALID_IMAGE, "cannot identify image file"), created=when()))

    keys = {role.value: ApiKeys(store).create(role, f"{role.value}-person")[1]
            for role in ApiRole}
    settings = Settings(database_url=url, webhook_secret=SECRET, allow_private_urls=True)
    with serving(create_app(settings, cors_origins=[])) as url:
        yield Console(url, store, keys, receiver, queued, long_page, gif, error)
    store.close()


def _shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("ADREVIEW_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _check_png(path: Path, width: int) -> None:
    with Image.open(path) as picture:
        assert picture.size[0] == width
        assert len(picture.convert("L").getcolors(256) or ()) > 10  # rendered, not blank


def _sign_in(page: object, url: str, key: str, lang: str = "en") -> None:
    page.context.add_cookies([{"name": "adreview_lang", "value": lang,  # type: ignore[attr-defined]
                               "domain": "127.0.0.1", "path": "/"}])
    page.goto(f"{url}/review")  # type: ignore[attr-defined]
    page.fill("input[name=key]", key)  # type: ignore[attr-defined]
    page.keyboard.press("Enter")  # type: ignore[attr-defined]
    page.wait_for_url(f"{url}/review")  # type: ignore[attr-defined]


@pytest.mark.slow
def test_a_reviewer_works_through_twenty_items_with_the_keyboard_only(
    console: Console, tmp_path: Path
) -> None:
    from playwright.sync_api import expect, sync_playwright

    shots = _shots(tmp_path)
    executable = _chromium()
    overridden: dict[str, str] = {}
    confirmed: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            # A producer key is refused at the sign-in form.
            page = browser.new_page(viewport=WIDE)
            page.context.add_cookies([{"name": "adreview_lang", "value": "en",
                                       "domain": "127.0.0.1", "path": "/"}])
            page.goto(f"{console.url}/review")
            page.fill("input[name=key]", console.keys["producer"])
            with page.expect_response(lambda r: r.request.method == "POST") as refused:
                page.keyboard.press("Enter")
            assert refused.value.status == 403
            expect(page.locator(".error")).to_contain_text("producer")
            page.close()

            # The narrow screen: queue and item fit 390 px, the buttons are all visible.
            phone = browser.new_context(viewport=NARROW, device_scale_factor=1)
            page = phone.new_page()
            _sign_in(page, console.url, console.keys["reviewer"])
            expect(page.locator(".row")).to_have_count(20)
            page.screenshot(path=str(shots / "queue-390.png"))
            page.keyboard.press("Enter")
            page.wait_for_url("**/review/items/**")
            for button in page.locator("form.decide button").all():
                box = button.bounding_box()
                assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
            assert page.evaluate("document.documentElement.scrollWidth") <= 390
            page.screenshot(path=str(shots / "item-390.png"))
            phone.close()

            context = browser.new_context(viewport=WIDE)
            page = context.new_page()
            _sign_in(page, console.url, console.keys["reviewer"])
            rows = page.locator(".row")
            expect(rows).to_have_count(20)
            expect(page.locator("[data-total]")).to_have_text("20")
            # Oldest first (no priorities given).
            assert rows.evaluate_all("els => els.map(e => e.dataset.submission)") == list(
                console.queued)
            page.wait_for_load_state("networkidle")
            page.screenshot(path=str(shots / "queue-1280.png"))
            page.keyboard.press("j")
            page.keyboard.press("j")
            page.keyboard.press("k")
            expect(rows.nth(1)).to_have_class("row selected")
            page.keyboard.press("k")
            page.keyboard.press("?")
            expect(page.locator("#keys")).to_be_visible()
            page.keyboard.press("Escape")
            expect(page.locator("#keys")).to_be_hidden()
            page.keyboard.press("Enter")
            page.wait_for_url("**/review/items/**")
            current = page.locator("article.item-view").get_attribute("data-submission")
            assert current == console.queued[0]
            # j and k walk the list without deciding.
            page.keyboard.press("j")
            page.wait_for_url(f"**/review/items/{console.queued[1]}")
            page.keyboard.press("k")
            page.wait_for_url(f"**/review/items/{console.queued[0]}")

            for step in range(20):
                article = page.locator("article.item-view")
                ident = article.get_attribute("data-submission")
                assert ident is not None and ident not in overridden and ident not in confirmed
                machine = article.locator(".decide-card .badge").first.inner_text()
                if ident == console.animation:
                    expect(page.locator("figcaption[data-frame]")).to_have_text(
                        "frame 12 of 20")
                    expect(page.locator(".neighbour img")).to_have_count(2)  # 11 and 13
                    image = page.locator(".picture .stage img")
                    page.wait_for_function("img => img.complete && img.naturalWidth > 0",
                                           arg=image.element_handle())
                    page.screenshot(path=str(shots / "item-animation-1280.png"))
                if ident == console.long_page:
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(shots / "item-long-1280.png"), full_page=True)
                    # The second box is near the bottom of the page; hovering its row lights it.
                    last = page.locator(".hit").nth(1)
                    last.hover()
                    expect(page.locator('.box[data-n="2"]')).to_have_class("box reject hl")
                if step == 0:
                    page.keyboard.press("Tab")  # focus reaches the evidence too
                    page.locator(".hit").first.focus()
                    expect(page.locator('.box[data-n="1"]')).to_have_class(
                        f"box {page.locator('.hit .badge').first.inner_text()} hl")
                    page.wait_for_load_state("networkidle")
                    page.screenshot(path=str(shots / "item-1280.png"))
                    page.locator(".hit").first.blur()
                scroll_before = page.evaluate("window.scrollY")
                if step % 4 == 1:
                    page.keyboard.press("n")
                    page.keyboard.type(f"not a claim here ({step})")
                    page.keyboard.press("Escape")
                    page.keyboard.press("p")
                    overridden[ident] = "pass"
                elif step % 4 == 3 and machine == "review":
                    page.keyboard.press("r")
                    overridden[ident] = "reject"
                elif machine == "review":  # nothing to confirm: pass or reject
                    page.keyboard.press("a")  # does nothing here
                    page.keyboard.press("p")
                    overridden[ident] = "pass"
                else:
                    page.keyboard.press("a")
                    confirmed.append(ident)
                if step < 19:
                    page.wait_for_url(lambda u, ident=ident: "/review/items/" in u
                                      and ident not in u.split("?")[0])
                    # The next item opens at its top, not somewhere down a long page.
                    assert page.evaluate("window.scrollY") == 0 or scroll_before == 0
                else:
                    page.wait_for_url(lambda u: u.split("?")[0].endswith("/review"))
            expect(page.locator(".empty")).to_contain_text("Nothing left to review")
            expect(page.locator("[data-total]")).to_have_text("0")
            page.goto(f"{console.url}/review?view=done")
            expect(page.locator(".row")).to_have_count(20)
            page.goto(f"{console.url}/review?view=errors")
            expect(page.locator(".row")).to_have_count(1)
            expect(page.locator(".error-line")).to_contain_text("invalid_image")
            page.keyboard.press("Enter")
            page.wait_for_url(f"**/review/items/{console.error}*")
            expect(page.locator(".error-card")).to_contain_text("cannot identify image file")
            page.screenshot(path=str(shots / "error-1280.png"))
            # The feedback loop: what reviewers overrode, per rule.
            page.goto(f"{console.url}/review/rules")
            expect(page.locator(".rule-row").first).to_be_visible()
            page.screenshot(path=str(shots / "rules-1280.png"), full_page=True)
            page.set_viewport_size(NARROW)
            page.screenshot(path=str(shots / "rules-390.png"))
        finally:
            browser.close()

    for name in ("queue-1280", "item-1280", "item-long-1280", "item-animation-1280",
                 "queue-390", "item-390", "rules-1280", "rules-390"):
        _check_png(shots / f"{name}.png", 390 if name.endswith("390") else 1280)
    assert len(overridden) >= 5 and len(confirmed) >= 10
    store = console.store
    for ident, decision in overridden.items():
        current = store.current_verdict(ident)
        assert current is not None and current.effective_decision.value == decision
        assert current.decision.value != decision  # the machine verdict is kept
    notes = [r.note for i in overridden for r in store.reviews(i) if r.note]
    assert any(n.startswith("not a claim here") for n in notes)
    with httpx.Client(base_url=console.url) as client:
        key = {"Authorization": f"Bearer {console.keys['reviewer']}"}
        left = client.get("/v1/verdicts", headers=key, params={
            "reviewed": "false", "decision": ["review", "reject"]}).json()["items"]
        assert left == []
        items = client.get("/v1/verdicts", headers=key, params={"limit": 100}).json()["items"]
        effective = {i["submission"]: i["effective_decision"] for i in items}
        assert all(effective[i] == d for i, d in overridden.items())
    # One signed callback per override (a confirmation changes nothing), naming it,
    # delivered from the outbox as the workers deliver it.
    hooked = Settings(webhook_secret=SECRET, allow_private_urls=True)
    assert deliver_due(store, hooked) == len(overridden)
    assert console.receiver.count() == len(overridden)
    called = {}
    for headers, body, _status in console.receiver.requests:
        assert verify_signature(body, headers, SECRET)
        payload = json.loads(body)
        assert payload["event"] == "review"
        called[payload["submission"]] = payload["effective_decision"]
    assert called == overridden
