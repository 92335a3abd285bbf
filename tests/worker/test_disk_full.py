"""A full disk under the spill folder, on a real ``adreview serve``: an upload that must
spill is answered 507 JSON with no partial file left, ``/ready`` says the spill folder
cannot take a file, and small submissions (inline) still go through.

The spill folder is a 1 MiB tmpfs mounted by the test (skipped where mounting is not
allowed)."""

from __future__ import annotations

import base64
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.worker.processes import served_api
from tests.worker.test_queue import REDIS_URL, broker
from worker.db import Store
from worker.db.keys import ApiKeys

__all__ = ["broker"]  # a fixture


@pytest.fixture
def full_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, filled to the last block."""
    mount = tmp_path / "shared"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)],
                          capture_output=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode(errors='replace')}")
    try:
        (mount / "uploads").mkdir()
        with (mount / "filler").open("wb", buffering=0) as out:
            try:
                while True:
                    out.write(b"\0" * 4096)
            except OSError:
                pass
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.slow
def test_a_full_spill_folder_gives_507_json_no_partial_file_and_an_unready_api(
    full_disk: Path, tmp_path: Path, broker: object,
) -> None:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    with Store.open(url) as store:
        _, key = ApiKeys(store).create("producer", "shop")
    env = {"ADREVIEW_DATABASE_URL": url, "ADREVIEW_REDIS_URL": REDIS_URL,
           "ADREVIEW_QUEUE": f"adreview-disk-{uuid.uuid4().hex[:8]}",
           "ADREVIEW_SHARED_ROOT": str(full_disk), "ADREVIEW_INLINE_MAX_BYTES": "100000"}
    headers = {"Authorization": f"Bearer {key}"}
    with served_api(tmp_path, env) as api, \
            httpx.Client(base_url=api.base, headers=headers, timeout=60) as http:
        big = http.post("/v1/submissions", files={"file": ("ad.png", os.urandom(2_000_000))})
        assert big.status_code == 507, big.text
        assert big.headers["Retry-After"] == "60"
        assert big.json()["error"] == {"code": "insufficient_storage",
                                       "message": "the shared folder is full; try again later"}
        assert sorted(p.name for p in (full_disk / "uploads").iterdir()) == []
        ready = http.get("/ready")
        assert ready.status_code == 503
        assert ready.json()["checks"]["spill_folder"] == {"ok": False, "error": "ENOSPC"}
        assert ready.json()["checks"]["database_writable"] == {"ok": True}
        small = http.post("/v1/submissions", json={
            "image": base64.b64encode(os.urandom(1000)).decode()})
        assert small.status_code == 202, small.text
        (full_disk / "filler").unlink()  # room again
        assert http.get("/ready").status_code == 200
        again = http.post("/v1/submissions", files={"file": ("ad.png", os.urandom(200_000))})
        assert again.status_code == 202, again.text
    assert [p.suffix for p in (full_disk / "uploads").iterdir()] == [""]
