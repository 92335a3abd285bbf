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
from rich.cells import cell_len
from sqlalchemy import create_engine, func, select

from worker.cli import parse_since
from worker.db import Store
from worker.db.models import OcrResult, Submission, VerdictRow
from worker.samples import render_ad

ADREVIEW = [sys.executable, "-m", "worker.cli"]
CONTRACT_KEYS = {"image", "decision", "matches", "error", "ruleset", "engine"}
MATCH_KEYS = {"rule", "category", "severity", "phrase", "text", "box"}


def adreview(*args: str, check: bool = True, columns: int = 200
             ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": str(columns)}
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


def test_scan_json_lines_adds_every_ocr_line_read_and_again_from_the_cache(
    ads: Path, sqlite_url: str
) -> None:
    for _ in range(2):  # the second scan takes the lines from the stored OCR
        result = adreview("scan", str(ads / "a_violation.png"), "--json", "--lines",
                          "--db", sqlite_url)
        (line,) = [json.loads(text) for text in result.stdout.splitlines()]
        texts = [item["text"] for item in line["lines"]]
        assert any("全网第一" in text for text in texts), texts
        for item in line["lines"]:
            assert set(item) >= {"text", "box", "score"} and len(item["box"]) == 4
    plain = adreview("scan", str(ads / "a_violation.png"), "--json", "--db", sqlite_url)
    assert "lines" not in json.loads(plain.stdout)


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
    assert result.returncode == 2
    assert "no image files found" in result.stderr


def test_scan_fail_on_exits_1_at_or_above_the_threshold_and_0_below_it(
    ads: Path, sqlite_url: str, tmp_path: Path
) -> None:
    violation, clean, broken, context = (
        str(ads / name) for name in ("a_violation.png", "b_clean.jpg", "c_broken.jpg",
                                     "nested/d_context.webp"))
    # The same claim at review severity.
    lenient = tmp_path / "lenient"
    lenient.mkdir()
    (lenient / "rules.yaml").write_text(
        "categories: [{id: absolute, name: 绝对化用语}]\n"
        "rules: [{id: absolute.first, category: absolute, severity: review, phrases: [全网第一]}]\n",
        encoding="utf-8")

    def status(*args: str) -> int:
        done = adreview("scan", *args, "--jobs", "1", "--db", sqlite_url, check=False)
        assert "Traceback" not in done.stderr
        return done.returncode

    assert status(clean, context, "--fail-on", "reject") == 0
    assert status(clean, context, "--fail-on", "review") == 0
    assert status(clean, violation, "--fail-on", "reject") == 1
    assert status(violation, "--rules", str(lenient), "--fail-on", "reject") == 0
    assert status(violation, "--rules", str(lenient), "--fail-on", "review") == 1
    assert status(broken, "--fail-on", "reject") == 1  # never cleared
    assert status(violation) == 0  # without --fail-on, as before

    gated = adreview("scan", clean, violation, broken, "--json", "--fail-on", "reject",
                     "--db", sqlite_url, check=False)
    assert gated.returncode == 1
    assert [json.loads(line)["decision"] for line in gated.stdout.splitlines()] == [
        "pass", "reject", "error"]
    assert "2 of 3 images are reject or error" in gated.stderr

    # Nothing judged: exit 2, never 1.
    (tmp_path / "bad-rules").mkdir()
    (tmp_path / "bad-rules" / "bad.yaml").write_text("rules: [\n", encoding="utf-8")
    assert status(violation, "--rules", str(tmp_path / "bad-rules"), "--fail-on", "reject") == 2
    (tmp_path / "none").mkdir()
    assert status(str(tmp_path / "none"), "--fail-on", "reject") == 2
    assert status(violation, "--fail-on", "maybe") == 2


def test_the_verdicts_table_shows_whole_ids_on_an_80_column_terminal(
    ads: Path, sqlite_url: str
) -> None:
    scanned = adreview("scan", str(ads), "--json", "--db", sqlite_url).stdout.splitlines()
    ids = [json.loads(line)["submission"] for line in scanned]
    table = adreview("verdicts", "--table", "--db", sqlite_url, columns=80).stdout
    assert max(cell_len(line) for line in table.splitlines()) <= 80  # CJK: two cells
    for ident in ids:
        assert len(ident) == 36 and ident in table


def test_verdicts_into_a_pipe_are_tab_separated_lines_never_cut_whatever_the_width(
    ads: Path, sqlite_url: str
) -> None:
    scanned = [json.loads(line) for line in
               adreview("scan", str(ads), "--json", "--db", sqlite_url).stdout.splitlines()]
    by_id = {item["submission"]: item for item in scanned}
    header, *rows = [line.split("\t") for line in
                     adreview("verdicts", "--db", sqlite_url, columns=40).stdout.splitlines()]
    assert header == ["submission", "judged", "decision", "effective_decision", "reviewer",
                      "image", "evidence"]
    assert sorted(row[0] for row in rows) == sorted(by_id)
    for submission, _, decision, effective, reviewer, image, evidence in rows:
        item = by_id[submission]
        assert (decision, effective, reviewer) == (item["decision"], item["decision"], "")
        assert image == item["image"]
        for match in item["matches"]:
            assert f"{match['rule']}: {match['text']}" in evidence.split(" | ")
        if item["error"] is not None:
            assert evidence.startswith(f"{item['error']['code']}: ")


def test_show_prints_one_submission_with_its_verdict_evidence_and_reviews(
    ads: Path, sqlite_url: str
) -> None:
    scanned = adreview("scan", str(ads / "a_violation.png"), "--json", "--db", sqlite_url)
    ident = json.loads(scanned.stdout)["submission"]
    with Store.open(sqlite_url) as store:
        store.add_review(ident, "alice", "override", "pass", note="a slogan, not a claim")

    shown = adreview("show", ident, "--db", sqlite_url).stdout
    assert f"submission: {ident}" in shown
    assert "decision:   reject (reviewer: pass)" in shown
    for text in ("absolute.first", "全网第一", "alice", "override", "a slogan, not a claim"):
        assert text in shown

    data = json.loads(adreview("show", ident, "--json", "--db", sqlite_url).stdout)
    assert (data["id"], data["status"], data["verdict"]["decision"]) == (ident, "done", "reject")
    assert data["verdict"]["submission"] == ident
    assert any(m["rule"] == "absolute.first" for m in data["verdict"]["matches"])
    assert (data["effective_decision"], data["reviewed"]) == ("pass", True)
    assert [(r["reviewer"], r["action"], r["decision"]) for r in data["reviews"]] == [
        ("alice", "override", "pass")]

    missing = adreview("show", "no-such-id", "--db", sqlite_url, check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"error: no submission 'no-such-id' in {sqlite_url}"


def test_parse_since_reads_ages_and_iso_times() -> None:
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    assert parse_since("90m", now) == now - timedelta(minutes=90)
    assert parse_since("2d", now) == now - timedelta(days=2)
    assert parse_since("2026-11-24T08:00", now) == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert parse_since(None, now) is None
    with pytest.raises(typer.BadParameter):
        parse_since("yesterday", now)
