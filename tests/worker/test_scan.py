"""`adreview scan`, `verdicts` and `annotate` end to end: real OCR, real databases, real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from PIL import Image
from sqlalchemy import create_engine, func, select

from worker.cli import parse_since
from worker.db.models import OcrResult, Submission, VerdictRow
from worker.samples import render_ad

ADREVIEW = [sys.executable, "-m", "worker.cli"]
CONTRACT_KEYS = {"image", "decision", "matches", "error", "ruleset", "engine"}
MATCH_KEYS = {"rule", "category", "severity", "phrase", "text", "box"}


def adreview(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200"}
    result = subprocess.run(
        [*ADREVIEW, *args], capture_output=True, text=True, timeout=300, env=env, check=False
    )
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture(scope="module")
def ads(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of ads: a violation, a clean ad, a context trap, a corrupt file, a nested one."""
    folder = tmp_path_factory.mktemp("ads")
    plain = ((255, 255, 255), (20, 20, 20))
    render_ad(["全网第一保温杯", "限时特惠 ¥59"], colours=plain, size=(640, 360)).save(
        folder / "a_violation.png"
    )
    render_ad(["纯棉T恤 舒适透气", "包邮 七天无理由"], colours=plain, size=(640, 360)).save(
        folder / "b_clean.jpg", quality=92
    )
    (folder / "c_broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg" * 3)
    (folder / "nested").mkdir()
    render_ad(["第一步 打开包装", "最新款 到店有礼"], colours=plain, size=(640, 360)).save(
        folder / "nested" / "d_context.webp", quality=95
    )
    (folder / "notes.txt").write_text("not an image, and not picked up by the folder walk")
    return folder


def rows(url: str) -> dict[str, int]:
    engine = create_engine(url)
    with engine.connect() as connection:
        counts = {
            table.__tablename__: connection.execute(select(func.count()).select_from(table)).scalar_one()
            for table in (Submission, OcrResult, VerdictRow)
        }
    engine.dispose()
    return counts


def test_scan_json_prints_one_contract_object_per_image_in_input_order(
    ads: Path, sqlite_url: str
) -> None:
    result = adreview("scan", str(ads), "--json", "--jobs", "2", "--db", sqlite_url)
    lines = [json.loads(line) for line in result.stdout.splitlines()]

    assert [Path(line["image"]).name for line in lines] == [
        "a_violation.png", "b_clean.jpg", "c_broken.jpg", "d_context.webp",
    ]
    for line in lines:
        assert set(line) >= CONTRACT_KEYS
        assert line["engine"] == "rapidocr"
        assert len(line["ruleset"]) == 16
    violation, clean, broken, context = lines
    assert violation["decision"] == "reject"
    (match,) = [m for m in violation["matches"] if m["rule"] == "absolute.first"]
    assert set(match) >= MATCH_KEYS
    assert match["phrase"] == "全网第一"
    assert match["text"] == "全网第一"
    assert len(match["box"]) == 4 and all(len(point) == 2 for point in match["box"])
    assert clean["decision"] == "pass" and clean["matches"] == []
    assert broken["decision"] == "error"
    assert broken["error"]["code"] in {"invalid_image", "unsupported_format"}
    assert broken["error"]["message"]
    assert context["decision"] == "pass", context["matches"]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_scanning_again_writes_no_duplicates_and_reads_no_image_twice(
    ads: Path, backend: str, request: pytest.FixtureRequest
) -> None:
    url: str = request.getfixturevalue(f"{backend}_url")
    first = adreview("scan", str(ads), "--jobs", "1", "--db", url)
    assert "OCR run on 3, 0 from the cache" in first.stdout, first.stdout
    after_first = rows(url)
    assert after_first == {"submissions": 4, "ocr_results": 3, "verdicts": 4}

    second = adreview("scan", str(ads), "--jobs", "2", "--db", url)
    assert "OCR run on 0, 3 from the cache" in second.stdout, second.stdout
    assert rows(url) == after_first

    stored = [json.loads(line) for line in adreview("verdicts", "--json", "--db", url).stdout.splitlines()]
    assert len(stored) == 4
    assert {v["decision"] for v in stored} == {"reject", "pass", "error"}
    for item in stored:
        assert {"submission", "ad_id", "decision", "matches", "error", "ruleset"} <= set(item)


def test_verdicts_filters_by_decision_and_time(ads: Path, sqlite_url: str) -> None:
    adreview("scan", str(ads), "--db", sqlite_url)
    rejected = adreview("verdicts", "--json", "--decision", "reject", "--db", sqlite_url)
    (only,) = [json.loads(line) for line in rejected.stdout.splitlines()]
    assert only["source"].endswith("a_violation.png")
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert adreview("verdicts", "--json", "--since", future, "--db", sqlite_url).stdout == ""
    recent = adreview("verdicts", "--json", "--since", "1h", "--db", sqlite_url).stdout
    assert len(recent.splitlines()) == 4

    bad = adreview("verdicts", "--decision", "maybe", "--db", sqlite_url, check=False)
    assert bad.returncode != 0
    assert "'maybe' is not one of pass, review, reject, error" in bad.stderr


def test_annotate_boxes_the_match_in_red_for_a_stored_submission(
    ads: Path, sqlite_url: str, tmp_path: Path
) -> None:
    adreview("scan", str(ads), "--db", sqlite_url)
    stored = adreview("verdicts", "--json", "--decision", "reject", "--db", sqlite_url).stdout
    item = json.loads(stored)
    out = tmp_path / "drawn.png"
    result = adreview("annotate", item["submission"], "-o", str(out), "--db", sqlite_url)
    assert f"matches drawn: {out}" in result.stdout

    drawn = Image.open(out).convert("RGB")
    original = Image.open(ads / "a_violation.png").convert("RGB")
    assert drawn.size == original.size
    (match,) = [m for m in item["matches"] if m["rule"] == "absolute.first"]
    xs = [p[0] for p in match["box"]]
    ys = [p[1] for p in match["box"]]
    y_mid = round((min(ys) + max(ys)) / 2)
    # The left edge of the box is drawn in the reject colour where the original was not.
    edge = [drawn.getpixel((round(min(xs)) + dx, y_mid)) for dx in range(-2, 3)]
    assert (220, 30, 30) in edge
    assert all(original.getpixel((round(min(xs)) + dx, y_mid)) != (220, 30, 30) for dx in range(-2, 3))


def test_annotate_an_unknown_id_fails_with_one_line(sqlite_url: str, tmp_path: Path) -> None:
    result = adreview("annotate", "no-such-id", "-o", str(tmp_path / "x.png"), "--db", sqlite_url,
                      check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: 'no-such-id' is neither an image file nor a stored submission id"
    )


def test_scan_of_a_missing_path_fails_with_a_clear_message(tmp_path: Path, sqlite_url: str) -> None:
    result = adreview("scan", str(tmp_path / "nowhere"), "--db", sqlite_url, check=False)
    assert result.returncode != 0
    assert "no such file or folder" in result.stderr
    assert "Traceback" not in result.stderr


def test_scan_of_a_folder_without_images_fails_with_a_clear_message(
    tmp_path: Path, sqlite_url: str
) -> None:
    (tmp_path / "empty").mkdir()
    result = adreview("scan", str(tmp_path / "empty"), "--db", sqlite_url, check=False)
    assert result.returncode == 1
    assert "no image files found" in result.stderr


def test_parse_since_reads_ages_and_iso_times() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("2d", now) == now - timedelta(days=2)
    assert parse_since("2026-11-24T08:00", now) == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert parse_since(None, now) is None
    with pytest.raises(typer.BadParameter):
        parse_since("yesterday", now)
