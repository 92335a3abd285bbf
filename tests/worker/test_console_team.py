"""The console a review team works in, in a real headless Chromium against a real server:
Chinese by default with an English switch that sticks, two reviewers in two browser
contexts (the claim seen, a conflicting decision refused and shown), a batch of ten
decided in one action, three identical images decided once, a long page whose sixth
evidence row scrolls its box into view, and the contrast of a box on a red banner.

Screenshots go to ``$ADREVIEW_SCREENSHOTS`` (default: the test's temporary folder)."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from models.base import TextLine
from rules import load_ruleset
from rules.schema import Decision, Severity
from tests.worker.conftest import serving
from tests.worker.test_review_console import (
    NARROW,
    WIDE,
    _draw,
    _hit_box,
    _judged,
    _png,
    _shots,
    _submit,
)
from tests.worker.test_review_pages import CHROMIUM_ARGS, _chromium
from worker.api import create_app
from worker.db import Store
from worker.db.keys import ApiKeys
from worker.errors import ErrorCode
from worker.samples import GIF_CLAIM, gif_frames, load_font
from worker.settings import Settings
from worker.verdict import Evidence, Verdict, VerdictError

RED = (211, 47, 47)
LONG_CLAIMS = ["全网第一", "国家级品质", "销量第一", "最佳选择", "史上最低价", "顶级品质"]


@dataclass(frozen=True)
class Team:
    """A running server, its store, keys by name and the ads by role."""

    url: str
    store: Store
    keys: dict[str, str]
    batch: list[str]
    twins: list[str]
    banner: str
    long_page: str
    animation: str
    error: str


def _banner() -> tuple[bytes, list[TextLine]]:
    """A red banner with the claim in white."""
    image = Image.new("RGB", (800, 300), RED)
    draw = ImageDraw.Draw(image)
    font = load_font("sans-bold", 64)
    x0, y0, x1, y1 = draw.textbbox((60, 110), "全网第一 限时抢购", font=font)
    draw.text((60, 110), "全网第一 限时抢购", font=font, fill=(255, 255, 255))
    return _png(image), [TextLine("全网第一 限时抢购", ((x0, y0), (x1, y0), (x1, y1), (x0, y1)),
                                  0.98)]


@pytest.fixture
def team(tmp_path: Path) -> Iterator[Team]:
    url = f"sqlite:///{tmp_path / 'adreview.db'}"
    store = Store.open(url)
    settings = Settings(database_url=url)
    store.save_ruleset(load_ruleset(settings.rules_dir))
    start = datetime.now(UTC) - timedelta(hours=1)
    tick = iter(range(1000))

    def when() -> datetime:
        return start + timedelta(seconds=next(tick))

    batch = []
    for i in range(10):  # the oldest ten: the first rows of the queue
        data, read = _draw(["全网第一", f"新品上市 批次 {i}"])
        batch.append(_judged(store, data, read, f"batch-{i}", "", when()))
    same, read = _draw(["药到病除", "同一张图"])
    twins = [_judged(store, same, read, f"twin-{i}", "", when()) for i in range(3)]
    data, read = _banner()
    banner = _judged(store, data, read, "red-banner", "", when())
    lines = []
    for i in range(30):
        lines.append(LONG_CLAIMS[i // 5] + " 详情" if i % 5 == 0 else "用心做好每一件产品")
    data, read = _draw(lines, size=(750, 8000), font_size=40, step=260, top=80,
                       background=(255, 248, 240))
    long_page = _submit(store, data, "long-page", "")
    store.record_verdict(long_page, Verdict(Decision.REJECT, tuple(
        Evidence("absolute.first", "absolute", Severity.REJECT, claim, claim,
                 read[5 * n].text, _hit_box(read[5 * n], claim, 40), 0.96)
        for n, claim in enumerate(LONG_CLAIMS)), "rules-demo", "fake", "fake-1", None,
        created=when()))
    frames = gif_frames(seed=3, frames=20, claim_frame=12, shown=1)
    out = io.BytesIO()
    frames[0].image.save(out, format="GIF", save_all=True,
                         append_images=[f.image for f in frames[1:]], duration=100, loop=0,
                         disposal=1)
    claim = frames[12]
    hit, where = next((text, box) for text, box in zip(claim.lines, claim.boxes, strict=True)
                      if GIF_CLAIM[1] in text)
    animation = _submit(store, out.getvalue(), "animated", "")
    store.record_verdict(animation, Verdict(Decision.REJECT, (Evidence(
        "absolute.first", "absolute", Severity.REJECT, GIF_CLAIM[1], GIF_CLAIM[1], hit, where,
        0.97, frame=12),), "rules-demo", "fake", "fake-1", None, created=when()))
    error = _submit(store, b"not an image", "broken", "")
    store.record_verdict(error, Verdict(
        Decision.ERROR, (), "rules-demo", "fake", "fake-1", None,
        VerdictError(ErrorCode.INVALID_IMAGE, "cannot identify image file"), created=when()))
    keys = {name: ApiKeys(store).create(role, name)[1] for name, role in (
        ("alice", "reviewer"), ("bob", "reviewer"), ("root", "admin"), ("ed", "rule-editor"))}
    with serving(create_app(settings, cors_origins=[])) as served:
        yield Team(served, store, keys, batch, twins, banner, long_page, animation, error)
    store.close()


@pytest.fixture
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with sync_playwright() as pw:
        launched = pw.chromium.launch(executable_path=executable, headless=True,
                                      args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def _signed_in(browser: Any, team: Team, name: str, viewport: dict[str, int] = WIDE,
               lang: str | None = None) -> Any:
    """A new browser context's page, signed in as ``name``; every request it makes is
    to the server (anything else fails the test)."""
    context = browser.new_context(viewport=viewport, device_scale_factor=1)
    if lang is not None:
        context.add_cookies([{"name": "adreview_lang", "value": lang,
                              "domain": "127.0.0.1", "path": "/"}])
    page = context.new_page()
    elsewhere: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(team.url) or r.url.startswith(
        "data:") else elsewhere.append(r.url))
    page.elsewhere = elsewhere
    page.goto(f"{team.url}/review")
    page.fill("input[name=key]", team.keys[name])
    page.keyboard.press("Enter")
    page.wait_for_url(lambda u: "/login" not in u)
    return page


def _rows(page: Any) -> list[str]:
    return list(page.locator(".row").evaluate_all("els => els.map(e => e.dataset.submission)"))


def _luminance(rgb: tuple[int, ...]) -> float:
    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(c) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, ...], b: tuple[int, ...]) -> float:
    """The WCAG contrast ratio of two colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_the_console_speaks_chinese_first_and_english_by_a_switch_that_sticks(
    team: Team, browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    shots = _shots(tmp_path)
    page = _signed_in(browser, team, "alice")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    expect(page.locator("nav.views a").first).to_have_text("待审")
    expect(page.locator("h1")).to_contain_text("待审核")
    # Category names come from the rule files, in Chinese.
    names = {c.name for c in load_ruleset(Settings().rules_dir).categories.values()}
    shown = page.locator(".hits .cat").all_inner_texts()
    assert shown and set(shown) <= names and "绝对化用语" in shown
    expect(page.locator(".copies[data-copies='3']")).to_have_count(1)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(shots / "queue-1280.png"))
    page.click("[data-lang]")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    expect(page.locator("nav.views a").first).to_have_text("Queue")
    page.goto(f"{team.url}/review/items/{team.banner}")
    assert page.locator("html").get_attribute("lang") == "en"  # it sticks
    expect(page.locator("button[data-primary]")).to_contain_text("Confirm reject")
    page.click("[data-lang]")
    page.wait_for_url(f"**/review/items/{team.banner}")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    expect(page.locator("button[data-primary]")).to_contain_text("确认拒绝")
    # Labels, a skip link and the favicon; nothing asked of another host.
    assert page.locator("label[for=note]").count() == 1
    page.keyboard.press("Tab")
    expect(page.locator("a.skip")).to_be_focused()
    assert page.request.get(f"{team.url}/favicon.ico").status == 200
    assert page.elsewhere == []


def test_two_reviewers_see_the_claim_and_a_conflicting_decision_is_refused_and_shown(
    team: Team, browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    shots = _shots(tmp_path)
    alice = _signed_in(browser, team, "alice")
    bob = _signed_in(browser, team, "bob", NARROW)
    target = team.batch[0]
    alice.goto(f"{team.url}/review/items/{target}")
    expect(alice.locator("[data-claimed]")).to_have_count(0)  # her own claim
    bob.goto(f"{team.url}/review")
    assert target not in _rows(bob) and team.batch[1] in _rows(bob)
    # Bob opens it anyway (a link from a colleague): the page says who has it.
    bob.goto(f"{team.url}/review/items/{target}")
    expect(bob.locator("[data-claimed]")).to_contain_text("alice")
    alice.keyboard.press("p")
    alice.wait_for_url(lambda u: target not in u.split("?")[0])
    with bob.expect_response(lambda r: r.request.method == "POST") as refused:
        bob.keyboard.press("r")
    assert refused.value.status == 409
    message = bob.locator("p.error[data-conflict=yes]")
    expect(message).to_contain_text("alice")
    expect(message).to_contain_text("通过")
    bob.screenshot(path=str(shots / "conflict-390.png"))
    assert [(r.reviewer, r.decision) for r in team.store.reviews(target)] == [
        ("alice", Decision.PASS)]
    # Seeing it, bob may still decide on the new state.
    bob.keyboard.press("r")
    bob.wait_for_url(lambda u: target not in u.split("?")[0])
    assert [r.reviewer for r in team.store.reviews(target)] == ["alice", "bob"]
    wide = _signed_in(browser, team, "bob", WIDE, lang="en")
    other = team.batch[1]
    alice.goto(f"{team.url}/review/items/{other}")
    wide.goto(f"{team.url}/review/items/{other}")
    alice.keyboard.press("r")
    alice.wait_for_url(lambda u: other not in u.split("?")[0])
    wide.keyboard.press("p")
    expect(wide.locator("p.error[data-conflict=yes]")).to_contain_text("alice decided reject")
    wide.screenshot(path=str(shots / "conflict-1280.png"))


def test_a_batch_of_ten_is_decided_in_one_action_and_identical_images_once(
    team: Team, browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    shots = _shots(tmp_path)
    page = _signed_in(browser, team, "alice")
    assert _rows(page)[:10] == team.batch
    for _ in range(10):
        page.keyboard.press("x")
        page.keyboard.press("j")
    expect(page.locator("[data-selected-count]")).to_contain_text("10")
    expect(page.locator(".row.picked")).to_have_count(10)
    page.screenshot(path=str(shots / "batch-1280.png"))
    page.click("[data-batch-reject]")
    page.wait_for_url("**notice=batch*")
    expect(page.locator(".flash")).to_contain_text("10")
    for ident in team.batch:
        assert [r.decision for r in team.store.reviews(ident)] == [Decision.REJECT]
    # Three identical images: one entry, one decision, three records.
    row = page.locator(f".row[data-submission='{team.twins[0]}']")
    expect(row.locator(".copies")).to_contain_text("3")
    for twin in team.twins[1:]:
        expect(page.locator(f".row[data-submission='{twin}']")).to_have_count(0)
    row.locator("a.open").click()
    expect(page.locator("[data-duplicates]")).to_be_checked()
    page.keyboard.press("p")
    page.wait_for_url(lambda u: team.twins[0] not in u.split("?")[0])
    for twin in team.twins:
        assert [(r.reviewer, r.decision) for r in team.store.reviews(twin)] == [
            ("alice", Decision.PASS)]
    # The message names the ad and offers an undo, without moving the layout.
    expect(page.locator(".flash")).to_contain_text("twin-0")
    page.goto(f"{team.url}/review?view=done")
    expect(page.locator("[data-done]").first).to_contain_text("alice")
    page.screenshot(path=str(shots / "done-1280.png"))


def test_a_long_page_scrolls_the_sixth_box_into_view_and_a_box_on_red_keeps_3_to_1(
    team: Team, browser: Any, tmp_path: Path
) -> None:
    shots = _shots(tmp_path)
    page = _signed_in(browser, team, "alice")
    page.goto(f"{team.url}/review/items/{team.long_page}")
    page.wait_for_load_state("networkidle")
    box = page.locator('.box[data-n="6"]')
    first = box.bounding_box()
    assert first is not None and first["y"] > WIDE["height"]  # far below at first
    page.locator(".hit").nth(5).focus()
    page.wait_for_timeout(300)
    seen = box.bounding_box()
    assert seen is not None and seen["y"] >= 0 and seen["y"] + seen["height"] <= WIDE["height"]
    assert "hl" in (box.get_attribute("class") or "")
    assert page.locator(".hit").nth(5).is_visible()
    assert page.locator(".stage.dim").count() == 1  # the rest of the image dims
    assert page.locator(".hit .crop").count() == 6  # each row has its crop
    page.screenshot(path=str(shots / "item-long-1280.png"))

    page.goto(f"{team.url}/review/items/{team.banner}")
    page.wait_for_load_state("networkidle")
    edge = page.locator('.box[data-n="1"]').bounding_box()
    assert edge is not None
    shot = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    y = int(edge["y"] + edge["height"] / 2)
    left = int(edge["x"])
    banner = shot.getpixel((left - 20, y))
    assert contrast(banner, RED) < 1.1  # that is the banner
    ring = [shot.getpixel((left + dx, y)) for dx in (-4, -1, 1)]
    assert max(contrast(c, banner) for c in ring) >= 3.0, ring
    assert contrast(shot.getpixel((left + 1, y)), banner) >= 3.0  # the inner ring alone
    page.screenshot(path=str(shots / "item-banner-1280.png"))
    page.set_viewport_size(NARROW)
    page.wait_for_timeout(200)
    picture = page.locator(".pictures").bounding_box()
    side = page.locator(".side").bounding_box()
    assert picture is not None and side is not None and picture["y"] < side["y"]  # image first
    assert page.evaluate("document.documentElement.scrollWidth") <= NARROW["width"]
    page.screenshot(path=str(shots / "item-banner-390.png"))


def test_other_views_and_roles_gif_errors_rules_and_screens(
    team: Team, browser: Any, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    shots = _shots(tmp_path)
    page = _signed_in(browser, team, "root")
    page.goto(f"{team.url}/review/items/{team.animation}")
    expect(page.locator("figcaption[data-frame]")).to_have_text("第 12 帧 / 共 20 帧")
    expect(page.locator(".neighbour img")).to_have_count(2)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(shots / "item-gif-1280.png"))
    page.set_viewport_size(NARROW)
    page.screenshot(path=str(shots / "item-gif-390.png"))
    page.goto(f"{team.url}/review")
    page.screenshot(path=str(shots / "queue-390.png"))
    page.set_viewport_size(WIDE)
    page.goto(f"{team.url}/review?view=errors")
    expect(page.locator(".error-line")).to_contain_text("invalid_image")
    page.screenshot(path=str(shots / "errors-1280.png"))
    page.set_viewport_size(NARROW)
    page.screenshot(path=str(shots / "errors-390.png"))
    page.set_viewport_size(WIDE)
    # Invalid filter values are shown where they were typed.
    page.goto(f"{team.url}/review?since=yesterday")
    expect(page.locator("#bad-filter")).to_be_visible()
    expect(page.locator("input[name=since]")).to_have_attribute("aria-invalid", "true")
    # Search on the OCR text and a rule prefix.
    page.goto(f"{team.url}/review?view=all&rule=absolute")
    assert team.banner in _rows(page)
    # The rule stats: a rule editor may open them, and drill down is for reviewers.
    team.store.decide(team.batch[2], "root", "pass")
    editor = _signed_in(browser, team, "ed")
    assert editor.url.endswith("/review/rules")
    expect(editor.locator(".rule-row").first).to_be_visible()
    editor.goto(f"{team.url}/review")
    assert editor.url.endswith("/review/rules")  # the queue is for reviewers
    page.goto(f"{team.url}/review/rules")
    drill = page.locator(".rule-row a[data-drill]").first
    page.screenshot(path=str(shots / "rules-1280.png"), full_page=True)
    page.set_viewport_size(NARROW)
    page.screenshot(path=str(shots / "rules-390.png"))
    drill.click()
    page.wait_for_url("**view=all&rule=*")
    assert len(_rows(page)) >= 1
    assert page.elsewhere == [] and editor.elsewhere == []
