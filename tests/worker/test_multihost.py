"""Four hosts, a cut cable and a killed worker: every submission still gets one verdict.

The test builds a network of its own out of Linux network namespaces (``tests.netns``): a
broker host running its own ``redis-server`` and PostgreSQL, an API host running
``adreview serve``, and two worker hosts running ``adreview worker``, each process bound
to its own host's address in ``198.18.0.0/24``. 80 ads are submitted over HTTP. Once the
first verdicts are in, worker host A's cable is pulled for 30 s, and meanwhile worker
host B is killed outright (SIGKILL, the whole process group) and started again. When A's
cable is back and A answers a ping, the last 20 ads are submitted, and A must take some of
them. At the end every one of the 100 submissions must have exactly one verdict, a real
decision, and none may be left ``queued`` or ``processing``. The figures (submissions,
verdicts, duplicates, time to the last verdict, redeliveries) are printed.

It needs root to make namespaces and skips, saying why, where it cannot. The test's own
processes reach PostgreSQL through its Unix socket only; everything else goes over the
namespaced network.
"""

from __future__ import annotations

import contextlib
import glob
import io
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.netns import Host, Network, available
from tests.worker.test_queue import REPO, wait_for
from worker.samples import corpus

#: Submissions made over HTTP.
SUBMISSIONS = 100
#: Distinct images of the first batch, each sent twice (the second read comes from the OCR
#: cache); the rest of the submissions are new images sent once the cut link is back.
FIRST_DISTINCT = 40
#: Seconds worker host A stays cut off.
CUT_SECONDS = 30.0
#: Soft and hard time limits of a review in the test. The gap between them is kept wide
#: (production: 120 and 180 s), as the worker's main process, which enforces them, may
#: stall for a while on a dead link: a narrow gap would have it fire both at once and kill
#: a child that was handling the soft limit. The visibility timeout is 15 s over the hard one.
SOFT_LIMIT = 15
TIME_LIMIT = 50

SUBMITTER = """
import json, pathlib, sys, time
import httpx
base, key, folder = sys.argv[1:4]
deadline = time.monotonic() + 90
while True:
    try:
        if httpx.get(base + "/ready", timeout=2).status_code == 200:
            break
    except httpx.TransportError:
        pass
    if time.monotonic() > deadline:
        sys.exit("the API did not get ready")
    time.sleep(0.2)
ids = []
with httpx.Client(base_url=base, headers={"X-API-Key": key}, timeout=30) as client:
    for path in sorted(pathlib.Path(folder).iterdir()):
        reply = client.post("/v1/submissions", data={"ad_id": path.stem},
                            files={"file": (path.name, path.read_bytes(), "image/png")})
        reply.raise_for_status()
        ids.append(reply.json()["id"])
print(json.dumps(ids))
"""


def postgres_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server programs (the newest), if installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


@pytest.fixture
def network() -> Iterator[Network]:
    """An empty network of namespaces (skips where they cannot be made); torn down after."""
    reason = available()
    if reason is not None:
        pytest.skip(f"no network namespaces here: {reason}")
    for program in ("redis-server", "setpriv"):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed")
    if postgres_bin() is None:
        pytest.skip("the PostgreSQL server programs are not installed")
    net = Network()
    try:
        yield net
    finally:
        net.close()


@pytest.fixture
def scratch() -> Iterator[Path]:
    """A folder the postgres user can use (pytest's own is root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix="adreview-multihost-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def as_postgres(argv: list[str]) -> list[str]:
    return ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", *argv]


def start_postgres(host: Host, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    """PostgreSQL on ``host``'s address, its data and socket in ``folder``; returns the
    server and the test's own URL (over the Unix socket)."""
    pgbin = postgres_bin()
    assert pgbin is not None
    data = folder / "pgdata"
    shutil.chown(folder, "postgres", "postgres")
    done = subprocess.run(as_postgres([str(pgbin / "initdb"), "-D", str(data), "-A", "trust",
                                       "-U", "postgres", "--no-sync", "-E", "UTF8",
                                       "--no-locale"]),
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    with open(data / "pg_hba.conf", "a") as hba:  # the hosts of the test network
        hba.write(f"host all all {host.address.rsplit('.', 1)[0]}.0/24 trust\n")
    server = host.start(as_postgres([
        str(pgbin / "postgres"), "-D", str(data), "-p", "5432", "-k", str(folder),
        "-c", f"listen_addresses={host.address}", "-c", "fsync=off",
        "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
        "-c", "max_connections=200"]), log=folder / "postgres.log")
    url = f"postgresql+psycopg://postgres@/postgres?host={folder}&port=5432"
    engine = create_engine(url)

    def answers() -> bool:
        try:
            with engine.connect() as connection:
                connection.execute(text("SELECT 1"))
            return True
        except Exception:  # not up yet
            return False

    try:
        wait_for(answers, 30, "PostgreSQL on the broker host", interval=0.1)
    finally:
        engine.dispose()
    return server, url


def write_ads(folder: Path) -> None:
    """``SUBMISSIONS`` small PNG ads under ``folder``: in ``before``, ``FIRST_DISTINCT``
    images each twice (the second read comes from the OCR cache); in ``after``, the rest,
    all new images."""
    ads = corpus(seed=5, per_group=10)
    later = SUBMISSIONS - 2 * FIRST_DISTINCT
    assert len(ads) >= FIRST_DISTINCT + later
    for name, chosen, copies in (("before", ads[:FIRST_DISTINCT], 2),
                                 ("after", ads[FIRST_DISTINCT:FIRST_DISTINCT + later], 1)):
        (folder / name).mkdir(parents=True)
        for index, ad in enumerate(chosen):
            buffer = io.BytesIO()
            ad.image.resize((320, 320)).save(buffer, format="PNG")
            for copy in range(copies):
                (folder / name / f"ad-{copy}-{index:03d}.png").write_bytes(buffer.getvalue())


def host_env(database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADREVIEW_")}
    env.update({
        "ADREVIEW_DATABASE_URL": database_url,
        "ADREVIEW_REDIS_URL": redis_url,
        "ADREVIEW_TASK_SOFT_TIME_LIMIT": str(SOFT_LIMIT),
        "ADREVIEW_TASK_TIME_LIMIT": str(TIME_LIMIT),
        # A Redis call on a cut link gives up (3 attempts of 2 s for a publish) before the
        # soft time limit, as in production (3 x 30 s against 120 s): the review fails and
        # is retried, not interrupted by the limit.
        "ADREVIEW_BROKER_SOCKET_TIMEOUT": "2",
        "ADREVIEW_OCR_THREADS": "1",
        "PYTHONPATH": str(REPO),
    })
    env.update(extra)
    return env


def start_worker(host: Host, name: str, env: dict[str, str], log: Path,
                 ) -> subprocess.Popen[bytes]:
    return host.start([sys.executable, "-m", "worker.cli", "worker", "--pool", "prefork",
                       "--concurrency", "1", "--loglevel", "INFO",
                       "--hostname", f"{name}@multihost"], env=env, log=log, cwd=REPO)


def table(url: str, query: str) -> list[tuple[object, ...]]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(text(query))]
    finally:
        engine.dispose()


def verdict_count(url: str) -> int:
    try:
        return int(table(url, "SELECT count(DISTINCT submission_id) FROM verdicts")[0][0])
    except Exception:  # the schema is not there yet
        return 0


RECEIVED = re.compile(r"Task adreview\.review\[([0-9a-f-]+)\] received")


def ping(host: Host, env: dict[str, str], worker: str) -> bool:
    """Whether ``worker`` answers a remote-control ping sent from ``host``."""
    done = host.run([sys.executable, "-m", "celery", "-A", "worker.celery_app", "inspect",
                     "ping", "-d", worker, "--timeout", "2"], env=env, timeout=30, cwd=REPO)
    return done.returncode == 0


def received_after(log: Path, offset: int) -> int:
    """Tasks the worker logging to ``log`` received after byte ``offset``."""
    with open(log, "rb") as handle:
        handle.seek(offset)
        return len(RECEIVED.findall(handle.read().decode(errors="replace")))


@pytest.mark.slow
@pytest.mark.multihost
def test_when_a_worker_host_is_cut_off_and_another_killed_then_every_submission_gets_one_verdict(
    network: Network, scratch: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broker = network.add_host("broker", 1)
    api = network.add_host("api", 2)
    host_a = network.add_host("worker-a", 11)
    host_b = network.add_host("worker-b", 12)
    postgres, db = start_postgres(broker, scratch)
    try:
        run(network, broker, api, host_a, host_b, db, scratch, capsys)
    finally:
        with contextlib.suppress(ProcessLookupError):
            postgres.send_signal(signal.SIGQUIT)  # immediate shutdown: shared memory freed
        with contextlib.suppress(subprocess.TimeoutExpired):
            postgres.wait(timeout=10)


def run(network: Network, broker: Host, api: Host, host_a: Host, host_b: Host, db: str,
        scratch: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The run of the test above, on its hosts and database."""
    # No password on the test's own network: protected mode would refuse the other hosts.
    broker.start(["redis-server", "--bind", broker.address, "--port", "6379", "--save", "",
                  "--protected-mode", "no", "--appendonly", "no", "--dir", str(scratch)],
                 log=scratch / "redis.log")
    write_ads(scratch / "ads")

    # A database call on a cut link gives up within 5 s, before the test's soft time limit
    # (15 s), as the production keepalives (60 s) give up before its soft limit (120 s).
    database_url = (f"postgresql+psycopg://postgres@{broker.address}:5432/postgres"
                    "?tcp_user_timeout=5000&keepalives_idle=5&keepalives_interval=2"
                    "&keepalives_count=2&connect_timeout=3")
    redis_url = f"redis://{broker.address}:6379/0"
    key = f"adr_{secrets.token_urlsafe(32)}"
    migrated = api.run([sys.executable, "-m", "worker.cli", "migrate"], cwd=REPO,
                       env=host_env(database_url, redis_url,
                                    ADREVIEW_API_KEYS=f"producer loader {key}"))
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr

    env = host_env(database_url, redis_url)
    logs = scratch / "logs"
    logs.mkdir()
    api.start([sys.executable, "-m", "worker.cli", "serve", "--host", api.address,
               "--port", "8000"], env=env, log=logs / "api.log", cwd=REPO)
    start_worker(host_a, "a", env, logs / "worker-a.log")
    worker_b = start_worker(host_b, "b", env, logs / "worker-b-0.log")

    def submit(folder: str) -> list[str]:
        done = api.run([sys.executable, "-c", SUBMITTER, f"http://{api.address}:8000", key,
                        str(scratch / "ads" / folder)], env=env, timeout=120, cwd=REPO)
        assert done.returncode == 0, done.stderr[-2000:]
        ids: list[str] = json.loads(done.stdout)
        return ids

    try:
        started = time.monotonic()
        ids = submit("before")
        wait_for(lambda: verdict_count(db) >= 15, 90, "the first 15 verdicts", interval=0.2)
        network.cut(host_a)
        cut_at = time.monotonic()
        verdicts_at_cut = verdict_count(db)
        assert verdicts_at_cut < len(ids), "the first batch ended before the cable was cut"
        time.sleep(3)
        os.killpg(worker_b.pid, signal.SIGKILL)  # the host's worker dies, nothing is said
        worker_b.wait(timeout=10)
        time.sleep(2)
        start_worker(host_b, "b", env, logs / "worker-b-1.log")
        time.sleep(max(0.0, cut_at + CUT_SECONDS - time.monotonic()))
        network.restore(host_a)
        restored_at = time.monotonic()
        # Worker A's main process answers again (its broker connection works or was made
        # anew); then the rest is submitted, and A must take some of it.
        wait_for(lambda: ping(api, env, "a@multihost"), 60, "worker A to answer after the cut",
                 interval=0.5)
        answered_s = time.monotonic() - restored_at
        a_log_at_second_batch = (logs / "worker-a.log").stat().st_size
        ids += submit("after")
        assert len(ids) == len(set(ids)) == SUBMISSIONS
        wait_for(lambda: verdict_count(db) == SUBMISSIONS, 180, "every verdict", interval=0.2)
        last_verdict_s = time.monotonic() - started
        a_took = received_after(logs / "worker-a.log", a_log_at_second_batch)
    except BaseException:
        for row in table(db, "SELECT id, status, attempts, updated_at FROM submissions "
                             "WHERE id NOT IN (SELECT submission_id FROM verdicts)"):
            sys.stderr.write(f"without a verdict: {row}\n")
        for log in sorted(logs.iterdir()):
            lines = [line[:300] for line in log.read_text(errors="replace").splitlines()
                     if line.startswith("[") and "Task adreview.review" not in line]
            sys.stderr.write(f"--- {log.name} (tail)\n" + "\n".join(lines[-40:]) + "\n")
        raise
    assert a_took >= 1, "worker A took no work after its link came back"

    per_submission = dict(table(db, "SELECT submission_id, count(*) FROM verdicts "
                                    "GROUP BY submission_id"))
    assert sorted(per_submission) == sorted(ids)
    duplicates = sum(int(str(n)) - 1 for n in per_submission.values())
    assert duplicates == 0
    left = table(db, "SELECT id, status FROM submissions WHERE status IN ('queued', 'processing')")
    assert left == []
    decisions = Counter(str(d) for (d,) in table(db, "SELECT decision FROM verdicts"))
    assert set(decisions) <= {"pass", "review", "reject"}, decisions
    started_again = int(str(table(db, "SELECT coalesce(sum(attempts - 1), 0) FROM submissions "
                                      "WHERE attempts > 1")[0][0]))
    received: Counter[str] = Counter()
    for log in logs.glob("worker-*.log"):
        received.update(RECEIVED.findall(log.read_text(errors="replace")))
    redeliveries = sum(n - 1 for n in received.values())

    figures = {"submissions": len(ids), "verdicts": sum(per_submission.values()),
               "duplicates": duplicates, "left_queued_or_processing": len(left),
               "time_to_last_verdict_s": round(last_verdict_s, 1),
               "verdicts_at_cut": verdicts_at_cut, "cut_s": CUT_SECONDS,
               "worker_a_answered_after_restore_s": round(answered_s, 1),
               "worker_a_tasks_after_restore": a_took,
               "redeliveries": redeliveries, "deliveries_started_again": started_again,
               "decisions": dict(decisions)}
    with capsys.disabled():
        print(f"\nmulti-host run: {json.dumps(figures)}")
    assert redeliveries >= 1, "the killed worker's message was never delivered again"
