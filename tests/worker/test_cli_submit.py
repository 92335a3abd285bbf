"""`adreview submit` through the real command: real Redis, real PostgreSQL.

Each test queues on a queue of its own that no worker reads, so the messages wait there
to be looked at.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from tests.worker.conftest import redis_or_skip
from worker.cli import app
from worker.client import celery_for
from worker.db import Store
from worker.settings import Settings

REDIS_URL = os.environ.get("ADREVIEW_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
runner = CliRunner()


def png(shade: int = 255) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (120, 60), (shade, shade, shade)).save(buffer, format="PNG")
    return buffer.getvalue()


def flat(output: str) -> str:
    """Command output with rich's panel borders and line wrapping taken out."""
    return " ".join(output.replace("│", " ").split())


@pytest.fixture
def queue(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The producer's settings (from the environment, as the command reads them): the test
    Redis and a queue of the test's own, emptied afterwards."""
    client = redis_or_skip(REDIS_URL)
    name = f"adreview-submit-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("ADREVIEW_REDIS_URL", REDIS_URL)
    monkeypatch.setenv("ADREVIEW_QUEUE", name)
    yield Settings(redis_url=REDIS_URL, queue=name)
    for key in client.scan_iter(f"{name}*"):
        client.delete(key)
    client.close()


def submit(*args: str) -> tuple[int, list[str], str]:
    """Run ``adreview submit ARGS``: (exit status, the ids printed, stderr unwrapped)."""
    result = runner.invoke(app, ["submit", *args])
    ids = [line.split("\t")[-1] for line in result.stdout.splitlines()]
    return result.exit_code, ids, flat(result.stderr)


def waiting(settings: Settings) -> list[tuple[str, int]]:
    """(submission id, priority) of the queue's messages, in the order a worker gets them."""
    found = []
    with celery_for(settings).connection_for_read() as connection:
        inbox = connection.SimpleQueue(settings.queue, no_ack=True)
        try:
            while True:
                try:
                    message = inbox.get(timeout=0.5)
                except inbox.Empty:
                    break
                found.append((message.payload[0][0], message.properties.get("priority", 0)))
        finally:
            inbox.close()
    return found


def test_submit_walks_folders_and_carries_on_past_bad_files_then_exits_1_with_a_summary(
    queue: Settings, postgresql_url: str, tmp_path: Path,
) -> None:
    folder = tmp_path / "ads"
    (folder / "nested").mkdir(parents=True)
    (folder / "a.png").write_bytes(png(250))
    (folder / "nested" / "b.jpg").write_bytes(png(240))
    (folder / "notes.txt").write_text("not an image: the folder walk leaves it out")
    big = tmp_path / "big.png"
    big.write_bytes(b"\x89PNG" + bytes(queue.inline_max_bytes))
    empty = tmp_path / "empty"
    empty.mkdir()
    last = tmp_path / "last.png"
    last.write_bytes(png(230))

    code, ids, errors = submit(str(folder), str(tmp_path / "missing.png"), str(big),
                               str(empty), str(last), "--db", postgresql_url)

    assert code == 1
    assert len(ids) == 3  # both images of the folder, and the file after the bad ones
    assert f"error: cannot read {tmp_path / 'missing.png'}: No such file or directory" in errors
    assert f"error: {big} is {queue.inline_max_bytes + 4:,} bytes, over inline_max_bytes" \
        in errors
    assert f"error: no image files under {empty}" in errors
    assert errors.endswith("3 queued; 3 not submitted")
    with Store.open(postgresql_url) as store:
        sources = {store.get_submission(i).source for i in ids}  # type: ignore[union-attr]
    assert sources == {f"file:{p.resolve()}"
                       for p in (folder / "a.png", folder / "nested" / "b.jpg", last)}
    assert sorted(i for i, _ in waiting(queue)) == sorted(ids)


def test_submit_keeps_metadata_and_the_callback_url_and_priority_0_is_reviewed_before_9(
    queue: Settings, postgresql_url: str, tmp_path: Path,
) -> None:
    late, early = tmp_path / "late.png", tmp_path / "early.png"
    late.write_bytes(png(200))
    early.write_bytes(png(100))
    hook = "https://shop.example.com/hooks/adreview"

    code, (late_id,), _ = submit(str(late), "--priority", "9", "--metadata",
                                 '{"shop": "s-204"}', "--callback-url", hook,
                                 "--ad-id", "ad-1", "--db", postgresql_url)
    assert code == 0
    code, (plain_id,), _ = submit(str(early), "--db", postgresql_url)
    assert code == 0

    with Store.open(postgresql_url) as store:
        stored = store.get_submission(late_id)
    assert stored is not None and stored.ad_id == "ad-1"
    assert stored.metadata is not None
    assert (stored.metadata["shop"], stored.metadata["callback_url"],
            stored.metadata["priority"]) == ("s-204", hook, 9)
    # Sent first, served last: 0 (the default) goes before 9.
    assert waiting(queue) == [(plain_id, 0), (late_id, 9)]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--priority", "10"], "Invalid value for '--priority'"),
        (["--priority", "-1"], "Invalid value for '--priority'"),
        (["--metadata", "[1, 2]"], "Invalid value for --metadata: must be a JSON object"),
        (["--metadata", "{shop"], "Invalid value for --metadata: not JSON"),
        (["--metadata", '{"priority": 1}'],
         "Invalid value for --metadata: keys priority are reserved by the queue"),
        (["--callback-url", "ftp://shop.example.com/x"],
         "Invalid value for --callback-url: callback URL must be an http(s) URL"),
    ],
)
def test_submit_refuses_bad_options_with_exit_2_before_storing_or_sending_anything(
    queue: Settings, sqlite_url: str, tmp_path: Path, args: list[str], message: str,
) -> None:
    image = tmp_path / "ad.png"
    image.write_bytes(png())
    result = runner.invoke(app, ["submit", str(image), *args, "--db", sqlite_url])
    assert result.exit_code == 2
    assert message in flat(result.output)
    with Store.open(sqlite_url) as store:
        assert store.find_submissions() == []
    assert waiting(queue) == []


def test_with_the_broker_down_submit_stores_every_image_says_so_and_exits_1(
    monkeypatch: pytest.MonkeyPatch, sqlite_url: str, tmp_path: Path,
) -> None:
    monkeypatch.setenv("ADREVIEW_REDIS_URL", "redis://127.0.0.1:1/0")  # nothing listens
    images = [tmp_path / "a.png", tmp_path / "b.png"]
    for shade, image in enumerate(images):
        image.write_bytes(png(shade))
    code, ids, errors = submit(*map(str, images), "--db", sqlite_url)
    assert code == 1
    assert ids == []
    assert errors.count("is stored but could not be queued") == 2
    assert errors.endswith("0 queued; 2 stored but not queued (`adreview requeue --stale 0` "
                           "sends them)")
    with Store.open(sqlite_url) as store:
        assert len(store.find_submissions()) == 2



def test_submit_prints_each_image_and_its_id_tab_separated_or_as_json_or_ids_alone(
    queue: Settings, sqlite_url: str, tmp_path: Path,
) -> None:
    images = [tmp_path / "a.png", tmp_path / "b.png"]
    for shade, image in enumerate(images):
        image.write_bytes(png(200 + shade))

    plain = runner.invoke(app, ["submit", *map(str, images), "--db", sqlite_url])
    as_json = runner.invoke(app, ["submit", str(images[0]), "--json", "--db", sqlite_url])
    ids_only = runner.invoke(app, ["submit", str(images[1]), "--ids", "--db", sqlite_url])

    assert (plain.exit_code, as_json.exit_code, ids_only.exit_code) == (0, 0, 0)
    rows = [line.split("\t") for line in plain.stdout.splitlines()]
    assert [image for image, _ in rows] == [str(p) for p in images]
    (record,) = [json.loads(line) for line in as_json.stdout.splitlines()]
    assert set(record) == {"image", "submission"} and record["image"] == str(images[0])
    (alone,) = ids_only.stdout.split()
    with Store.open(sqlite_url) as store:
        for image, ident in [*rows, (record["image"], record["submission"]),
                             (str(images[1]), alone)]:
            stored = store.get_submission(ident)
            assert stored is not None and stored.source == f"file:{Path(image).resolve()}"


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://10.1.2.3/ad.png", "a private address"),
        ("http://127.0.0.1:8080/ad.png", "a loopback address"),
        ("http://localhost/ad.png", "a loopback address"),
        ("http://169.254.169.254/latest/ad.png", "a link-local address"),
        ("http://[::1]/ad.png", "a loopback address"),
    ],
)
def test_submit_refuses_a_url_the_workers_would_refuse_naming_the_setting_and_sends_the_rest(
    queue: Settings, sqlite_url: str, tmp_path: Path, url: str, why: str,
) -> None:
    good = tmp_path / "ad.png"
    good.write_bytes(png())

    code, ids, errors = submit(url, str(good), "--db", sqlite_url)

    assert code == 1
    assert "workers refuse to fetch from" in errors and why in errors
    assert "ADREVIEW_ALLOW_PRIVATE_URLS=true" in errors
    assert errors.endswith("1 queued; 1 not submitted")
    with Store.open(sqlite_url) as store:
        assert [s.id for s in store.find_submissions()] == ids
    assert [i for i, _ in waiting(queue)] == ids


def test_submit_sends_a_private_url_when_private_urls_are_allowed(
    queue: Settings, sqlite_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ADREVIEW_ALLOW_PRIVATE_URLS", "true")

    code, ids, errors = submit("http://10.1.2.3/ad.png", "--db", sqlite_url)

    assert (code, errors) == (0, "")
    assert [i for i, _ in waiting(queue)] == ids and len(ids) == 1
