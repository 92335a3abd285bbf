"""Long detail pages and animations through the real pipeline (RapidOCR on real pixels)."""

from __future__ import annotations

import io

import pytest

from models.images import decode_image
from models.rapidocr import RapidOcrEngine
from models.tiling import plan_tiles
from rules import Decision, RuleSet, load_ruleset
from worker.pipeline import review
from worker.samples import DETAIL_CLAIMS, DETAIL_SIZE, GIF_CLAIM, animated_gif, detail_page
from worker.settings import SHIPPED_RULES_DIR, Settings

SETTINGS = Settings()


@pytest.fixture(scope="module")
def engine() -> RapidOcrEngine:
    return RapidOcrEngine.from_settings(SETTINGS)


@pytest.fixture(scope="module")
def ruleset() -> RuleSet:
    return load_ruleset(SHIPPED_RULES_DIR)


def png(image: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")  # type: ignore[attr-defined]
    return buffer.getvalue()


def test_the_detail_page_puts_claims_across_the_edges_of_the_tiles_it_is_cut_into() -> None:
    page, truth = detail_page(0)
    assert page.size == DETAIL_SIZE
    edges = {edge for _, top, _, bottom in plan_tiles(DETAIL_SIZE, SETTINGS) for edge in (top, bottom)}
    claims = [text for text, _ in DETAIL_CLAIMS]
    straddling = [
        text for text, (_, y0, _, y1) in truth
        if text in claims and any(y0 < edge < y1 for edge in edges)
    ]
    assert len(straddling) >= 2, (straddling, sorted(edges))


def test_every_claim_of_a_750x8000_detail_page_is_found_once_where_it_was_drawn(
    engine: RapidOcrEngine, ruleset: RuleSet
) -> None:
    page, truth = detail_page(0)
    verdict = review(png(page), engine, ruleset, SETTINGS)
    assert verdict.decision is Decision.REJECT
    drawn = dict(truth)
    for text, phrases in DETAIL_CLAIMS:
        x0, y0, x1, y1 = drawn[text]
        for phrase in phrases:
            found = [m for m in verdict.matches if m.phrase == phrase or phrase in m.phrase]
            assert len(found) == 1, (phrase, [(m.phrase, m.box) for m in verdict.matches])
            (match,) = found
            ys = [y for _, y in match.box]
            # The evidence box lies on the drawn line, in original-page pixels.
            assert y0 - 12 <= min(ys) and max(ys) <= y1 + 12, (phrase, match.box, drawn[text])
            xs = [x for x, _ in match.box]
            assert x0 - 12 <= min(xs) and max(xs) <= x1 + 12, (phrase, match.box, drawn[text])


def test_a_claim_shown_only_in_a_late_frame_of_a_gif_is_found(
    engine: RapidOcrEngine, ruleset: RuleSet
) -> None:
    data = animated_gif(seed=3, frames=20, claim_frame=12)
    decoded = decode_image(data, SETTINGS)
    assert decoded.frame_count == 20
    assert 0 in decoded.frame_indices and max(decoded.frame_indices) >= 12
    verdict = review(data, engine, ruleset, SETTINGS)
    assert verdict.decision is Decision.REJECT
    assert any(GIF_CLAIM[1] in m.phrase for m in verdict.matches)


def test_the_same_gif_read_as_its_first_frame_only_would_pass(
    engine: RapidOcrEngine, ruleset: RuleSet
) -> None:
    """The control: without frame sampling the claim would slip through."""
    data = animated_gif(seed=3, frames=20, claim_frame=12)
    first_only = Settings(max_frames=1)
    verdict = review(data, engine, ruleset, first_only)
    assert verdict.decision is Decision.PASS, verdict.matches
