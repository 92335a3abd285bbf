"""Industry scoping through the queue: real Redis, real PostgreSQL, a real worker process.

The same image is submitted as a medical ad and without an industry; the worker judges
each as its message says, and records the industry on the verdict. A message whose
industry the workers' rules do not declare (the rule set changed after it was sent) ends
as one ``unknown_industry`` error verdict, not a retry loop.
"""

from __future__ import annotations

import base64
import io
import time
from pathlib import Path

import pytest

from tests.worker.test_industries import AD_TEXT, rules_folder
from tests.worker.test_queue import (  # the real-worker fixtures and helpers
    StartWorker,
    broker,
    settings,
    start_worker,
    verdict_counts,
    wait_for,
)
from worker.client import send, submit
from worker.db import Store
from worker.errors import ErrorCode
from worker.samples import render_ad
from worker.settings import Settings

# Fixtures, used by name below.
__all__ = ["broker", "settings", "start_worker"]


def ad_png() -> bytes:
    buffer = io.BytesIO()
    plain = ((255, 255, 255), (20, 20, 20))
    render_ad([AD_TEXT, "限时特惠 到店有礼"], colours=plain, size=(640, 360)).save(
        buffer, format="PNG")
    return buffer.getvalue()


@pytest.mark.slow
def test_a_medical_submission_passes_where_the_same_image_without_an_industry_is_flagged(
    settings: Settings, start_worker: StartWorker, tmp_path: Path
) -> None:
    folder = rules_folder(tmp_path / "scoped")
    producer = settings.model_copy(update={"rules_dir": folder})
    data = ad_png()
    medical = submit(data, ad_id="ad-medical", settings=producer, industry="medical")
    plain = submit(data, ad_id="ad-plain", settings=producer)
    # Accepted when it was sent; the workers' rules do not declare it (any more).
    ref = {"inline": base64.b64encode(data).decode("ascii")}
    with Store.open(settings.database_url) as store:
        dropped = store.add_submission(None, "inline", metadata={"image_ref": ref},
                                       industry="toys")
    send(dropped, ref, producer.ocr_engine, producer, industry="toys")

    start_worker(concurrency=1, ADREVIEW_RULES_DIR=str(folder))
    wait_for(lambda: len(verdict_counts(settings.database_url)) == 3, 120, "3 verdicts",
             interval=0.5)
    time.sleep(1.0)  # a retry or a duplicate write would land now
    assert verdict_counts(settings.database_url) == {medical: 1, plain: 1, dropped: 1}

    with Store.open(settings.database_url) as store:
        verdicts = {i: store.current_verdict(i) for i in (medical, plain, dropped)}
        submissions = {i: store.get_submission(i) for i in (medical, plain, dropped)}
        by_industry = [v.submission for v in store.current_verdicts(industry="medical")]
    passed, flagged, failed = (verdicts[i] for i in (medical, plain, dropped))
    assert passed is not None and flagged is not None and failed is not None
    assert (passed.decision.value, passed.verdict.industry, passed.verdict.matches) == (
        "pass", "medical", ())
    assert (flagged.decision.value, flagged.verdict.industry) == ("reject", None)
    assert [m.rule for m in flagged.verdict.matches] == ["medical.treat"]
    assert failed.decision.value == "error" and failed.verdict.error is not None
    assert failed.verdict.error.code is ErrorCode.UNKNOWN_INDUSTRY
    assert failed.verdict.industry == "toys"
    assert by_industry == [medical]
    assert {i: (s.industry, s.attempts) for i, s in submissions.items() if s is not None} == {
        medical: ("medical", 1), plain: (None, 1), dropped: ("toys", 1)}
