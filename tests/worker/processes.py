"""A real ``adreview serve`` process for tests that need one: its own port, log and
environment, its resident memory read from /proc, stopped afterwards."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port nobody listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """The resident memory of process ``pid``, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no VmRSS for process {pid}")


class ServedApi:
    """A running ``adreview serve``: its base URL, process and log."""

    def __init__(self, base: str, process: subprocess.Popen[bytes], log: Path) -> None:
        self.base = base
        self.process = process
        self.log = log

    def rss_mb(self) -> float:
        """The server's resident memory, in MiB."""
        return rss_mb(self.process.pid)

    def log_text(self) -> str:
        """What the server logged so far."""
        return self.log.read_text(errors="replace")


@contextmanager
def served_api(tmp_path: Path, env: dict[str, str], *, ready: str = "/health",
               timeout: float = 60) -> Iterator[ServedApi]:
    """``adreview serve`` on a free port with ``ADREVIEW_*`` taken from ``env`` only;
    yields once ``ready`` answers at all (any status)."""
    port = free_port()
    full = {k: v for k, v in os.environ.items()
            if not k.startswith("ADREVIEW_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    full.update(env, PYTHONPATH=str(REPO))
    log = tmp_path / f"serve-{port}.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "worker.cli", "serve", "--port", str(port)],
            env=full, cwd=REPO, stdout=output, stderr=subprocess.STDOUT)
    api = ServedApi(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                httpx.get(api.base + ready, timeout=5)
                break
            except httpx.TransportError:
                assert process.poll() is None, api.log_text()[-3000:]
                assert time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.2)
        yield api
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
