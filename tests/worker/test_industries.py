"""Industry scoping end to end, outside the queue: storage and its migration, the review
pipeline, rescan and rules diff over stored OCR, and the command line (``scan``,
``rules test``, ``verdicts``, ``submit``) with the Python client.

Storage tests run on SQLite and on PostgreSQL (``store`` / ``database_url`` fixtures); the
scan reads a rendered ad with the real RapidOCR engine.
"""

from __future__ import annotations

import base64
import io
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from alembic.runtime.migration import MigrationContext
from PIL import Image
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from models.base import FakeEngine, TextLine
from rules import RuleSet, load_ruleset
from rules.engine import UnknownIndustry
from rules.schema import Decision
from tests.conftest import CATEGORIES
from tests.worker.conftest import redis_or_skip
from worker.cli import app
from worker.client import submit
from worker.db import Store, head_revision, make_engine, upgrade
from worker.errors import ErrorCode
from worker.pipeline import judge_lines, review
from worker.rescan import rescan
from worker.rules_diff import diff_rules
from worker.samples import render_ad
from worker.settings import Settings, get_settings
from worker.verdict import Verdict

INDUSTRIES = """
industries:
  - id: medical
    name: 医疗
    description: 医疗机构、医疗服务
  - id: cosmetics
    name: 化妆品
"""

#: 治疗 is refused in every ad but a medical one; 保本 only matters in finance, which this
#: set does not declare until ``WITH_FINANCE``.
RULES = """
rules:
  - id: medical.treat
    category: medical
    severity: reject
    phrases: [治疗]
    exempt_industries: [medical]
  - id: absolute.first
    category: absolute
    severity: reject
    phrases: [全网第一]
"""

AD_TEXT = "专业治疗失眠"
BOX = ((0.0, 0.0), (120.0, 0.0), (120.0, 20.0), (0.0, 20.0))
ENGINE, ENGINE_VERSION = "fake", "fake-1"
SETTINGS = Settings()

runner = CliRunner()


#: ``RULES`` without the exemption: 治疗 is refused in every ad.
UNSCOPED_RULES = RULES.replace("    exempt_industries: [medical]\n", "")
#: ``INDUSTRIES`` without cosmetics.
NO_COSMETICS = INDUSTRIES.split("  - id: cosmetics")[0]


def rules_folder(path: Path, rules: str = RULES, industries: str = INDUSTRIES) -> Path:
    """A rule folder with the shared categories, ``industries`` and ``rules``."""
    path.mkdir(parents=True, exist_ok=True)
    (path / "categories.yaml").write_text(CATEGORIES, encoding="utf-8")
    (path / "industries.yaml").write_text(industries, encoding="utf-8")
    (path / "rules.yaml").write_text(rules, encoding="utf-8")
    return path


@pytest.fixture
def scoped_dir(tmp_path: Path) -> Path:
    """A rule folder declaring medical and cosmetics, with 治疗 exempt in medical ads."""
    return rules_folder(tmp_path / "scoped")


@pytest.fixture
def scoped(scoped_dir: Path) -> RuleSet:
    return load_ruleset(scoped_dir)


def png(size: tuple[int, int] = (200, 80)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, "white").save(buffer, format="PNG")
    return buffer.getvalue()


def lines_of(value: str) -> list[TextLine]:
    return [TextLine(value, BOX, 0.99)]


def flat(output: str) -> str:
    """Command output with rich's panel borders and line wrapping taken out."""
    return " ".join(output.replace("│", " ").split())


REFUSED_TOYS = "Invalid value for --industry: unknown industry 'toys'; known: cosmetics, medical"


# -- storage --------------------------------------------------------------------------------


def test_migrating_an_existing_database_adds_industry_columns_and_keeps_its_rows(
    database_url: str,
) -> None:
    engine = make_engine(database_url)
    try:
        upgrade(engine, "0002")
        with engine.begin() as connection:
            connection.execute(text(
                "INSERT INTO submissions (id, source, status, attempts, created_at, updated_at)"
                " VALUES ('old-1', 'upload', 'queued', 0, :now, :now)"), {"now": "2026-11-01"})
        upgrade(engine)
        schema = inspect(engine)
        assert "industry" in {c["name"] for c in schema.get_columns("submissions")}
        assert "industry" in {c["name"] for c in schema.get_columns("verdicts")}
        assert "ix_verdicts_industry_judged_at" in {
            i["name"] for i in schema.get_indexes("verdicts")}
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == (
                head_revision())
    finally:
        engine.dispose()
    with Store.open(database_url) as store:
        old = store.get_submission("old-1")
    assert old is not None and old.industry is None


def test_a_submission_and_its_verdicts_keep_the_industry_they_were_judged_as(
    store: Store,
) -> None:
    medical = store.add_submission("a" * 64, "upload", industry="medical")
    plain = store.add_submission("b" * 64, "upload")
    for ident, industry in ((medical, "medical"), (plain, None)):
        store.record_verdict(ident, Verdict(Decision.PASS, (), "rules-v1", ENGINE,
                                            ENGINE_VERSION, None, industry=industry))
    got = store.get_submission(medical)
    assert got is not None and got.industry == "medical"
    current = store.current_verdict(medical)
    assert current is not None and current.verdict.industry == "medical"
    assert current.to_dict()["industry"] == "medical"
    assert [v.submission for v in store.current_verdicts(industry="medical")] == [medical]
    assert {v.submission for v in store.current_verdicts()} == {medical, plain}
    plain_current = store.current_verdict(plain)
    assert plain_current is not None and plain_current.to_dict()["industry"] is None


# -- the pipeline ---------------------------------------------------------------------------


def test_review_judges_an_ad_as_its_industry_and_records_it(scoped: RuleSet) -> None:
    engine = FakeEngine(lines_of(AD_TEXT))
    undeclared = review(png(), engine, scoped, SETTINGS)
    medical = review(png(), engine, scoped, SETTINGS, industry="medical")
    cosmetics = review(png(), engine, scoped, SETTINGS, industry="cosmetics")
    assert (undeclared.decision, undeclared.industry) == (Decision.REJECT, None)
    assert (medical.decision, medical.industry, medical.matches) == (
        Decision.PASS, "medical", ())
    assert cosmetics.decision is Decision.REJECT
    assert medical.to_dict()["industry"] == "medical"


def test_an_industry_the_rule_set_no_longer_declares_is_an_error_verdict_after_ocr(
    scoped: RuleSet,
) -> None:
    from worker.scan import MemoryCache

    cache = MemoryCache()
    verdict = review(png(), FakeEngine(lines_of(AD_TEXT)), scoped, SETTINGS, cache,
                     industry="toys")
    assert verdict.decision is Decision.ERROR
    assert verdict.error is not None and verdict.error.code is ErrorCode.UNKNOWN_INDUSTRY
    assert verdict.error.message == (
        "unknown industry 'toys'; known: cosmetics, medical")
    assert verdict.industry == "toys" and verdict.sha256 is not None
    assert cache.added, "the OCR is kept, so a later rule set can judge the ad"


def test_judge_lines_passes_the_industry_to_the_rule_set(scoped: RuleSet) -> None:
    assert judge_lines(lines_of(AD_TEXT), scoped).decision is Decision.REJECT
    assert judge_lines(lines_of(AD_TEXT), scoped, industry="medical").decision is Decision.PASS
    with pytest.raises(UnknownIndustry):
        judge_lines(lines_of(AD_TEXT), scoped, industry="toys")


# -- rescan and rules diff ------------------------------------------------------------------


def seed(store: Store, ruleset: RuleSet) -> dict[str | None, str]:
    """The same stored OCR text for three submissions: undeclared, medical, cosmetics,
    each with a verdict from ``ruleset`` judged as its industry."""
    store.save_ruleset(ruleset)
    ids: dict[str | None, str] = {}
    for industry in (None, "medical", "cosmetics"):
        sha = f"{industry or 'none':0<64}"
        ident = store.add_submission(sha, f"ad-{industry}", industry=industry)
        store.put_ocr(sha, ENGINE, ENGINE_VERSION, lines_of(AD_TEXT), (120, 20), 0.1)
        judged = judge_lines(lines_of(AD_TEXT), ruleset, industry=industry)
        store.record_verdict(ident, Verdict(judged.decision, judged.evidence, ruleset.version,
                                            ENGINE, ENGINE_VERSION, sha, industry=industry))
        ids[industry] = ident
    return ids


def current(store: Store, ident: str) -> Verdict:
    found = store.current_verdict(ident)
    assert found is not None
    return found.verdict


def test_rescan_judges_each_stored_ad_as_its_submissions_industry(
    store: Store, scoped: RuleSet, scoped_dir: Path, tmp_path: Path
) -> None:
    ids = seed(store, load_ruleset(rules_folder(tmp_path / "unscoped", UNSCOPED_RULES)))

    summary = rescan(store, scoped, rules_dir=scoped_dir)
    assert summary.judged == 3
    medical, plain, cosmetics = (current(store, ids[i]) for i in ("medical", None, "cosmetics"))
    assert (medical.decision, medical.industry, medical.ruleset) == (
        Decision.PASS, "medical", scoped.version)
    assert (plain.decision, plain.industry) == (Decision.REJECT, None)
    assert (cosmetics.decision, cosmetics.industry) == (Decision.REJECT, "cosmetics")
    assert rescan(store, scoped, rules_dir=scoped_dir).judged == 0


def test_rescan_with_rules_that_dropped_an_industry_gives_error_verdicts_a_later_rescan_mends(
    store: Store, scoped: RuleSet, scoped_dir: Path, tmp_path: Path
) -> None:
    ids = seed(store, scoped)
    narrower_dir = rules_folder(tmp_path / "narrower", industries=NO_COSMETICS)
    narrower = load_ruleset(narrower_dir)

    rescan(store, narrower, rules_dir=narrower_dir)
    dropped = current(store, ids["cosmetics"])
    assert dropped.decision is Decision.ERROR and dropped.error is not None
    assert dropped.error.code is ErrorCode.UNKNOWN_INDUSTRY
    assert "unknown industry 'cosmetics'" in dropped.error.message
    assert current(store, ids["medical"]).decision is Decision.PASS

    # rules diff sees the error verdict's stored text too, and what the full set makes of it
    diff = diff_rules(store, scoped)
    assert diff.examined == 3
    assert [e.submission for e in diff.changed.examples] == [ids["cosmetics"]]
    assert diff.changed.examples[0].before == "error"
    assert diff.changed.examples[0].after == "reject"

    assert rescan(store, scoped, rules_dir=scoped_dir).judged == 3
    mended = current(store, ids["cosmetics"])
    assert (mended.decision, mended.error, mended.industry) == (
        Decision.REJECT, None, "cosmetics")


def test_rules_diff_judges_each_stored_ad_as_its_submissions_industry(
    store: Store, scoped: RuleSet, tmp_path: Path
) -> None:
    ids = seed(store, load_ruleset(rules_folder(tmp_path / "unscoped", UNSCOPED_RULES)))
    diff = diff_rules(store, scoped)
    assert diff.examined == 3
    assert [e.submission for e in diff.cleared.examples] == [ids["medical"]]
    assert diff.unchanged == 2


# -- the command line -----------------------------------------------------------------------


def test_rules_test_applies_the_industry_and_refuses_an_unknown_one(scoped_dir: Path) -> None:
    def decision(*extra: str) -> str:
        result = runner.invoke(app, ["rules", "test", AD_TEXT, "--rules", str(scoped_dir),
                                     "--json", *extra])
        assert result.exit_code == 0, result.output
        return str(json.loads(result.stdout)["decision"])

    assert decision() == "reject"
    assert decision("--industry", "medical") == "pass"
    assert decision("--industry", "cosmetics") == "reject"
    refused = runner.invoke(app, ["rules", "test", AD_TEXT, "--rules", str(scoped_dir),
                                  "--industry", "toys"])
    assert refused.exit_code == 2
    assert REFUSED_TOYS in flat(refused.output)


def test_scan_with_an_industry_judges_and_stores_it_and_verdicts_filter_on_it(
    scoped_dir: Path, tmp_path: Path, sqlite_url: str
) -> None:
    ad = tmp_path / "ad.png"
    plain = ((255, 255, 255), (20, 20, 20))
    render_ad([AD_TEXT, "限时特惠 到店有礼"], colours=plain, size=(640, 360)).save(ad)
    common = ["--rules", str(scoped_dir), "--db", sqlite_url, "--jobs", "1", "--json"]

    undeclared = runner.invoke(app, ["scan", str(ad), *common])
    assert undeclared.exit_code == 0, undeclared.output
    (flagged,) = [json.loads(line) for line in undeclared.stdout.splitlines()]
    assert flagged["decision"] == "reject", flagged
    assert flagged["industry"] is None
    assert [m["rule"] for m in flagged["matches"]] == ["medical.treat"]

    medical = runner.invoke(app, ["scan", str(ad), "--industry", "medical", *common])
    assert medical.exit_code == 0, medical.output
    (passed,) = [json.loads(line) for line in medical.stdout.splitlines()]
    assert (passed["decision"], passed["industry"], passed["matches"]) == ("pass", "medical", [])
    assert passed["submission"] != flagged["submission"], "one submission per industry"

    listed = runner.invoke(app, ["verdicts", "--json", "--db", sqlite_url,
                                 "--industry", "medical"])
    assert listed.exit_code == 0, listed.output
    (only,) = [json.loads(line) for line in listed.stdout.splitlines()]
    assert (only["submission"], only["industry"], only["decision"]) == (
        passed["submission"], "medical", "pass")
    everything = runner.invoke(app, ["verdicts", "--json", "--db", sqlite_url])
    assert len(everything.stdout.splitlines()) == 2
    with Store.open(sqlite_url) as store:
        stored = store.get_submission(passed["submission"])
    assert stored is not None and stored.industry == "medical"


def test_scan_with_an_unknown_industry_exits_2_listing_the_known_ones_and_stores_nothing(
    scoped_dir: Path, tmp_path: Path, sqlite_url: str
) -> None:
    ad = tmp_path / "ad.png"
    ad.write_bytes(png())
    result = runner.invoke(app, ["scan", str(ad), "--rules", str(scoped_dir), "--db", sqlite_url,
                                 "--industry", "toys"])
    assert result.exit_code == 2
    assert REFUSED_TOYS in flat(result.output)
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()


# -- submitting: the Python client and `adreview submit` ------------------------------------

REDIS_URL = os.environ.get("ADREVIEW_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")


@pytest.fixture
def queue_settings(scoped_dir: Path, sqlite_url: str) -> Iterator[Settings]:
    """Settings with the scoped rules, a SQLite file and a queue of the test's own (no
    worker reads it: messages wait there to be looked at)."""
    client = redis_or_skip(REDIS_URL)
    made = Settings(database_url=sqlite_url, redis_url=REDIS_URL, rules_dir=scoped_dir,
                    queue=f"adreview-industry-{uuid.uuid4().hex[:8]}")
    yield made
    client.delete(made.queue)
    client.close()


def queued_messages(settings: Settings) -> list[tuple[list[object], dict[str, object]]]:
    """(args, kwargs) of every review message waiting in the settings' queue."""
    client = redis.Redis.from_url(settings.redis_url)
    try:
        raw = client.lrange(settings.queue, 0, -1)
    finally:
        client.close()
    found = []
    for item in reversed(raw):  # Celery pushes on the left
        message = json.loads(item)
        args, kwargs, _embed = json.loads(base64.b64decode(message["body"]))
        found.append((args, kwargs))
    return found


def test_the_client_stores_the_industry_and_the_message_carries_it(
    queue_settings: Settings,
) -> None:
    medical = submit(png(), settings=queue_settings, industry="medical")
    from_metadata = submit(png(), settings=queue_settings,
                           metadata={"industry": "cosmetics", "shop": "s-1"})
    explicit_wins = submit(png(), settings=queue_settings, industry="medical",
                           metadata={"industry": "cosmetics"})
    undeclared = submit(png(), settings=queue_settings)
    with Store.open(queue_settings.database_url) as store:
        industries = {i: store.get_submission(i).industry  # type: ignore[union-attr]
                      for i in (medical, from_metadata, explicit_wins, undeclared)}
    assert industries == {medical: "medical", from_metadata: "cosmetics",
                          explicit_wins: "medical", undeclared: None}
    messages = queued_messages(queue_settings)
    assert [(args[0], kwargs) for args, kwargs in messages] == [
        (medical, {"industry": "medical"}),
        (from_metadata, {"industry": "cosmetics"}),
        (explicit_wins, {"industry": "medical"}),
        (undeclared, {}),  # as every message before industries looked
    ]


def test_the_client_refuses_an_unknown_industry_before_storing_or_sending_anything(
    queue_settings: Settings,
) -> None:
    with pytest.raises(UnknownIndustry) as caught:
        submit(png(), settings=queue_settings, industry="toys")
    assert (caught.value.industry, caught.value.known) == ("toys", ["cosmetics", "medical"])
    with pytest.raises(UnknownIndustry):
        submit(png(), settings=queue_settings, metadata={"industry": "toys"})
    with Store.open(queue_settings.database_url) as store:
        assert store.find_submissions() == []
    assert queued_messages(queue_settings) == []


def test_submit_command_takes_an_industry_and_refuses_an_unknown_one_with_exit_2(
    queue_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in (("DATABASE_URL", queue_settings.database_url),
                        ("REDIS_URL", queue_settings.redis_url),
                        ("QUEUE", queue_settings.queue),
                        ("RULES_DIR", str(queue_settings.rules_dir))):
        monkeypatch.setenv(f"ADREVIEW_{name}", value)
    get_settings.cache_clear()
    ad = tmp_path / "ad.png"
    ad.write_bytes(png())
    try:
        refused = runner.invoke(app, ["submit", str(ad), "--industry", "toys"])
        accepted = runner.invoke(app, ["submit", str(ad), "--industry", "medical"])
    finally:
        get_settings.cache_clear()
    assert refused.exit_code == 2
    assert REFUSED_TOYS in flat(refused.output)
    assert accepted.exit_code == 0, accepted.output
    ident = accepted.stdout.strip().split("\t")[-1]
    with Store.open(queue_settings.database_url) as store:
        assert [s.id for s in store.find_submissions()] == [ident]
        stored = store.get_submission(ident)
    assert stored is not None and stored.industry == "medical"
    ((args, kwargs),) = queued_messages(queue_settings)
    assert (args[0], kwargs) == (ident, {"industry": "medical"})
