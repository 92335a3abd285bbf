"""The workers' liveness probe: ``python -m worker.heartbeat FILE --max-age S``."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from tests.worker.test_queue import REPO


def probe(path: Path, max_age: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "worker.heartbeat", str(path),
                           "--max-age", str(max_age)], cwd=REPO, capture_output=True,
                          text=True, check=False, env={**os.environ, "PYTHONPATH": str(REPO)})


def test_the_probe_passes_while_the_file_is_fresh_and_fails_once_it_is_stale(
    tmp_path: Path,
) -> None:
    alive = tmp_path / "alive"
    assert probe(alive, 60).returncode == 1  # no beat yet
    alive.touch()
    assert probe(alive, 60).returncode == 0
    old = time.time() - 120
    os.utime(alive, (old, old))
    stale = probe(alive, 60)
    assert stale.returncode == 1
    assert "no heartbeat" in stale.stderr
