"""The reviewer console's pages without a browser: views, filters and counts, the item's
neighbours and next-after-a-decision, frames of animations, error verdicts, the assets
served by the app, and the console's helpers. SQLite and PostgreSQL."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from rules.schema import Decision, Severity
from tests.worker.test_api import (  # the API fixtures and helpers
    add_judged,
    broker,
    evidence,
    keys,
    settings,
    store,
)
from worker.api import create_app
from worker.api.console import console_filter, in_line
from worker.db import Store
from worker.errors import ErrorCode
from worker.settings import Settings
from worker.verdict import Verdict, VerdictError

__all__ = ["broker", "keys", "settings", "store"]


@pytest.fixture
def pages(settings: Settings, store: Store, keys: dict[str, str]) -> Iterator[TestClient]:
    """A client signed in as the reviewer."""
    with TestClient(create_app(settings, cors_origins=[])) as client:
        client.cookies.set("adreview_lang", "en", path="/review")
        form = client.get("/review/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        signed = client.post("/review/login", data={"key": keys["reviewer"],
                                                     "csrf": csrf.group(1)},
                             follow_redirects=False)
        assert signed.status_code == 303
        yield client


def _rows(html: str) -> list[str]:
    return re.findall(r'class="row[^"]*" data-href="[^"]*" data-submission="([^"]+)"', html)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None
    return found.group(1)


def test_the_queue_holds_unreviewed_review_and_reject_items_and_filters_them(
    pages: TestClient, store: Store
) -> None:
    a = add_judged(store, ad_id="ad-1")
    b = add_judged(store, Decision.REVIEW, matches=(evidence(
        "absolute.preferred", "absolute", Severity.REVIEW),), ad_id="ad-2")
    c = add_judged(store, matches=(evidence("medical.cure", "medical"),), ad_id="ad-3")
    add_judged(store, Decision.PASS, ad_id="ad-4")
    store.add_review(c, "alice", "confirm")
    queue = pages.get("/review")
    assert queue.status_code == 200
    assert _rows(queue.text) == [a, b]  # oldest first
    assert 'data-total>2<' in queue.text
    assert _rows(pages.get("/review", params={"decision": "review"}).text) == [b]
    assert _rows(pages.get("/review", params={"category": "absolute"}).text) == [a, b]
    assert _rows(pages.get("/review", params={"rule": "absolute.first"}).text) == [a]
    assert _rows(pages.get("/review", params={"ad_id": "ad-2"}).text) == [b]
    assert _rows(pages.get("/review", params={"since": "1h"}).text) == [a, b]
    assert _rows(pages.get("/review", params={"rule": "absolute"}).text) == [a, b]  # prefix
    assert _rows(pages.get("/review", params={"view": "done"}).text) == [c]
    assert pages.get("/review", params={"view": "nope"}).status_code == 422
    bad = pages.get("/review", params={"since": "yesterday"})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.text  # shown inline
    assert 'id="bad-filter"' in bad.text and _rows(bad.text) == [a, b]
    # Links carry the filters on to the items.
    filtered = pages.get("/review", params={"category": "absolute"}).text
    assert f"/review/items/{b}?category=absolute" in filtered


def test_an_item_links_its_neighbours_and_a_decision_opens_the_next_unreviewed(
    pages: TestClient, store: Store
) -> None:
    older = add_judged(store, ad_id="ad-1")
    middle = add_judged(store, ad_id="ad-2")
    newer = add_judged(store, ad_id="ad-3")
    page = pages.get(f"/review/items/{middle}")
    assert page.status_code == 200
    assert f'rel="prev" href="/review/items/{older}"' in page.text
    assert f'rel="next" href="/review/items/{newer}"' in page.text
    assert '<span class="meta place">2 of 3</span>' in page.text
    assert "《广告法》" in page.text or "absolute.first" in page.text
    done = pages.post(f"/review/items/{middle}/decision",
                      data={"csrf": _csrf(page.text), "choice": "pass", "note": "usage",
                            "filters": ""}, follow_redirects=False)
    assert done.status_code == 303
    assert done.headers["location"].startswith(f"/review/items/{newer}?saved=")
    current = store.current_verdict(middle)
    assert current is not None and current.effective_decision is Decision.PASS
    # Pressing the machine's own decision confirms it.
    page = pages.get(f"/review/items/{newer}")
    done = pages.post(f"/review/items/{newer}/decision",
                      data={"csrf": _csrf(page.text), "choice": "reject", "filters": ""},
                      follow_redirects=False)
    assert done.headers["location"].startswith(f"/review/items/{older}?saved=")
    assert [r.action.value for r in store.reviews(newer)] == ["confirm"]
    page = pages.get(f"/review/items/{older}")
    done = pages.post(f"/review/items/{older}/decision",
                      data={"csrf": _csrf(page.text), "choice": "confirm", "filters": ""},
                      follow_redirects=False)
    assert done.headers["location"].startswith("/review?saved=")
    assert _rows(pages.get("/review").text) == []


def test_error_verdicts_have_their_own_view_with_the_code_and_message(
    pages: TestClient, store: Store
) -> None:
    ident = store.add_submission(None, "upload", ad_id="ad-broken")
    store.record_verdict(ident, Verdict(
        Decision.ERROR, (), "rules-v1", "fake", "fake-1", None,
        VerdictError(ErrorCode.INVALID_IMAGE, "cannot identify image file")))
    listed = pages.get("/review", params={"view": "errors"})
    assert _rows(listed.text) == [ident]
    assert "invalid_image" in listed.text and "cannot identify image file" in listed.text
    item = pages.get(f"/review/items/{ident}", params={"view": "errors"})
    assert item.status_code == 200 and "error-card" in item.text
    assert 'class="decide"' not in item.text  # nothing to confirm


def test_frames_are_served_as_png_and_assets_come_from_the_app(
    pages: TestClient, store: Store
) -> None:
    frames = [Image.new("RGB", (64, 48), colour) for colour in ((250, 0, 0), (0, 0, 250))]
    out = io.BytesIO()
    frames[0].save(out, format="GIF", save_all=True, append_images=frames[1:], duration=100)
    ident = add_judged(store, data=out.getvalue())
    second = pages.get(f"/review/items/{ident}/frame.png", params={"frame": 1})
    assert second.status_code == 200 and second.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(second.content)) as picture:
        assert picture.size == (64, 48) and picture.convert("RGB").getpixel((5, 5))[2] > 200
    assert pages.get(f"/review/items/{ident}/frame.png", params={"frame": 5}).status_code == 404
    page = pages.get(f"/review/items/{ident}")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert not re.search(r'(src|href)="https?://', page.text)
    for name, kind in (("console.js", "text/javascript"), ("console.css", "text/css")):
        asset = pages.get(f"/review/static/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
    assert pages.get("/review/static/..%2Fapp.py").status_code == 404
    assert pages.get("/review/static/nope.js").status_code == 404


def test_the_matched_text_is_shown_inside_its_line() -> None:
    assert in_line("第一", "全网销量第一 爆款直降") == ("全网销量", "第一", " 爆款直降")
    before, hit, after = in_line("X", "a" * 100 + "X" + "b" * 100)
    assert hit == "X" and before.startswith("…") and after.endswith("…")
    assert in_line("absent", "a line") == ("a line", "", "")


def test_console_filters_keep_the_view_and_drop_empty_values() -> None:
    made = console_filter({"view": "done", "decision": "reject", "rule": " ", "ad_id": "a"})
    assert made.view == "done" and made.where.reviewed is True
    assert made.where.decision is Decision.REJECT and made.where.rule is None
    assert made.query == "view=done&decision=reject&ad_id=a"
    assert console_filter({}).query == "" and console_filter({}).where.reviewed is False


def test_undo_takes_back_only_ones_own_latest_decision(
    pages: TestClient, store: Store
) -> None:
    ident = add_judged(store, ad_id="ad-undo")
    page = pages.get(f"/review/items/{ident}")
    done = pages.post(f"/review/items/{ident}/decision",
                      data={"csrf": _csrf(page.text), "choice": "pass", "filters": "",
                            "base_review": "none"}, follow_redirects=False)
    assert done.status_code == 303
    shown = pages.get(done.headers["location"])
    assert "Saved: ad-undo → pass" in shown.text and "data-undo" in shown.text
    undone = pages.post(f"/review/items/{ident}/undo", data={"csrf": _csrf(page.text)},
                        follow_redirects=False)
    assert undone.status_code == 303 and store.reviews(ident) == []
    assert [e.action for e in store.audit_log(subject=ident)][:2] == [
        "decision.undo", "decision"]
    store.decide(ident, "someone-else", "pass")
    again = pages.post(f"/review/items/{ident}/undo", data={"csrf": _csrf(page.text)})
    assert again.status_code == 409 and len(store.reviews(ident)) == 1


def test_a_verdict_of_an_older_rule_set_is_marked_and_judged_again_without_ocr(
    pages: TestClient, store: Store
) -> None:
    import hashlib

    from models.base import TextLine

    data = b"fake image bytes"
    sha = hashlib.sha256(data).hexdigest()
    ident = store.add_submission(sha, "upload", ad_id="ad-old")
    store.put_ocr(sha, "fake", "fake-1", [TextLine.rect("全网第一 销量", 0, 0, 100, 20, 0.99)],
                  (200, 100), 0.1)
    store.record_verdict(ident, Verdict(Decision.REVIEW, (), "an-old-rule-set", "fake",
                                        "fake-1", sha))
    page = pages.get(f"/review/items/{ident}")
    assert "judged by an older rule set" in page.text and "data-rejudge" in page.text
    done = pages.post(f"/review/items/{ident}/rejudge", data={"csrf": _csrf(page.text)},
                      follow_redirects=False)
    assert done.status_code == 303
    current = store.current_verdict(ident)
    assert current is not None and current.verdict.ruleset != "an-old-rule-set"
    assert current.decision is Decision.REJECT and current.verdict.timings == {"ocr_cached": 1.0}
    assert "data-rejudge" not in pages.get(f"/review/items/{ident}").text
    assert store.audit_log(action="rejudge")[0].subject == ident


def test_the_language_switch_the_batch_form_and_the_csv_export(
    pages: TestClient, store: Store
) -> None:
    a = add_judged(store, ad_id="ad-a")
    b = add_judged(store, ad_id="ad-b")
    pages.cookies.delete("adreview_lang", path="/review")
    chinese = pages.get("/review")
    assert '<html lang="zh-CN">' in chinese.text and "待审核" in chinese.text
    switched = pages.get("/review/lang", params={"to": "en", "next": "/review?view=done"},
                         follow_redirects=False)
    assert switched.status_code == 303 and switched.headers["location"] == "/review?view=done"
    assert '<html lang="en">' in pages.get("/review").text
    assert pages.get("/review/lang", params={"to": "en", "next": "https://elsewhere.example"},
                     follow_redirects=False).headers["location"] == "/review"
    done = pages.post("/review/decisions", data={"csrf": _csrf(chinese.text), "choice": "reject",
                                                 "ids": [a, b], "filters": ""},
                      follow_redirects=False)
    assert done.status_code == 303 and "notice=batch%3A2%3A0" in done.headers["location"]
    assert [r.decision for r in store.reviews(a)] == [Decision.REJECT]
    forged = pages.post("/review/decisions", data={"csrf": "x" * 40, "choice": "pass",
                                                   "ids": [a]})
    assert forged.status_code == 403 and len(store.reviews(a)) == 1
    csv_answer = pages.get("/review/export.csv", params={"view": "done"})
    assert csv_answer.status_code == 200 and csv_answer.headers["content-type"].startswith(
        "text/csv")
    assert csv_answer.content.decode("utf-8-sig").count("\n") == 3  # header and two rows
