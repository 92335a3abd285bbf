"""A newcomer's and a rule editor's first hour on a plain (non-editable) install, as
`make demo` makes one: the package is installed into a folder of its own and run from
there, never from the checkout.

* ``rules init``, an edit, ``rules check`` and ``rules test`` see the edit; a worker and the
  API load it while they run;
* ``adreview demo``, then the two commands it prints, show the demo's verdicts to a
  reviewer key through ``adreview serve``.

Real Redis, real worker and server processes, RapidOCR.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.worker.conftest import redis_or_skip

REPO = Path(__file__).resolve().parents[1]
REDIS_URL = os.environ.get("ADREVIEW_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
#: A rule of the editor's own: a phrase no shipped rule knows.
LOCAL_RULES = """\
rules:
  - id: local.house-claim
    category: absolute
    severity: reject
    description: a claim this shop's legal team bans
    phrases: [{phrases}]
"""

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The package installed, without ``-e``, into a folder of its own."""
    site = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--no-index", "--target", str(site), str(REPO)],
                   check=True, timeout=300, capture_output=True)
    return site


def environment(site: Path, **settings: str) -> dict[str, str]:
    """The environment of a shell with no ADREVIEW_* setting but ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ADREVIEW_")}
    env["PYTHONPATH"] = str(site)
    env.update({f"ADREVIEW_{name.upper()}": value for name, value in settings.items()})
    return env


def adreview(site: Path, cwd: Path, *args: str, **settings: str
             ) -> subprocess.CompletedProcess[str]:
    """Run the installed ``adreview`` in ``cwd``."""
    return subprocess.run([str(site / "bin" / "adreview"), *args], cwd=cwd,
                          env=environment(site, **settings), capture_output=True, text=True,
                          timeout=300)


def started(site: Path, cwd: Path, args: list[str], log: Path, **settings: str
            ) -> subprocess.Popen[bytes]:
    with log.open("wb") as output:
        return subprocess.Popen([str(site / "bin" / "adreview"), *args], cwd=cwd,
                                env=environment(site, **settings), stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], bool], seconds: float, what: str,
             process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert process.poll() is None, log.read_text(errors="replace")
        assert time.monotonic() < deadline, f"{what}\n{log.read_text(errors='replace')}"
        time.sleep(0.3)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:  # pragma: no cover - a stuck process
        process.kill()
        process.wait(10)


def serving(base: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(f"{base}/health", timeout=2).status_code == 200
        except httpx.TransportError:
            return False
    return check


@pytest.fixture
def work(tmp_path: Path) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    return folder


def test_the_installed_copy_runs_and_not_the_checkout(installed: Path, work: Path) -> None:
    found = subprocess.run([sys.executable, "-c", "import worker, rules; print(worker.__file__,"
                            " rules.__file__)"], cwd=work, env=environment(installed),
                           capture_output=True, text=True, check=True)
    assert all(Path(p).is_relative_to(installed) for p in found.stdout.split())


def test_a_rule_editor_copies_the_rules_edits_them_and_check_and_test_see_the_edit(
    installed: Path, work: Path
) -> None:
    shipped = adreview(installed, work, "rules", "check")
    made = adreview(installed, work, "rules", "init", "house-rules")
    (work / "house-rules" / "house.yaml").write_text(LOCAL_RULES.format(phrases="本店禁语"),
                                                      encoding="utf-8")
    export = made.stdout.strip()
    folder = export.removeprefix("export ADREVIEW_RULES_DIR=")
    before = adreview(installed, work, "rules", "test", "本店禁语")
    checked = adreview(installed, work, "rules", "check", rules_dir=folder)
    tested = adreview(installed, work, "rules", "test", "本店禁语", "--json", rules_dir=folder)

    assert (shipped.returncode, made.returncode, checked.returncode) == (0, 0, 0), made.stderr
    assert export == f"export ADREVIEW_RULES_DIR={work / 'house-rules'}"
    assert f"in {installed / 'rules' / 'shipped'}" in shipped.stdout
    assert f"rules: {installed / 'rules' / 'shipped'} (version " in before.stderr
    assert "decision: pass" in before.stdout
    count = int(shipped.stdout.split("ok: ")[1].split(" rules")[0])
    assert f"{count + 1} rules ({count + 1} enabled)" in checked.stdout  # the shipped and one
    assert f"in {folder}" in checked.stdout
    assert shipped.stdout.split("version ")[1][:16] != checked.stdout.split("version ")[1][:16]
    assert f"rules: {folder} (version " in tested.stderr
    judged = json.loads(tested.stdout)
    assert judged["decision"] == "reject"
    assert [m["rule"] for m in judged["matches"]] == ["local.house-claim"]


def test_a_rules_folder_in_the_working_directory_that_differs_is_pointed_out(
    installed: Path, work: Path
) -> None:
    adreview(installed, work, "rules", "init", "rules")
    same = adreview(installed, work, "rules", "check")
    (work / "rules" / "house.yaml").write_text(LOCAL_RULES.format(phrases="本店禁语"),
                                               encoding="utf-8")
    differs = adreview(installed, work, "rules", "check")

    assert "note:" not in same.stderr
    assert (f"note: {work / 'rules'} differs from the rules in use; to use it: "
            f"export ADREVIEW_RULES_DIR={work / 'rules'}") in " ".join(differs.stderr.split())


def test_a_running_worker_and_api_load_the_edited_rules(installed: Path, work: Path) -> None:
    from worker.samples import render_ad

    client = redis_or_skip(REDIS_URL)
    queue = f"adreview-fresh-{uuid.uuid4().hex[:8]}"
    adreview(installed, work, "rules", "init", "house-rules")
    house = work / "house-rules" / "house.yaml"
    house.write_text(LOCAL_RULES.format(phrases="本店禁语"), encoding="utf-8")
    settings = {"rules_dir": str(work / "house-rules"), "redis_url": REDIS_URL,
                "queue": queue, "database_url": f"sqlite:///{work / 'adreview.db'}"}
    image = render_ad(["新品上市", "第二禁语 限时优惠"], size=(800, 400), text_size=56,
                      colours=((255, 255, 255), (20, 20, 20)))
    image.save(work / "ad.png")  # black on white: an easy read
    key = adreview(installed, work, "keys", "create", "--role", "rule-editor",
                   **settings).stdout.strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    api_log, worker_log = work / "serve.log", work / "worker.log"
    api = started(installed, work, ["serve", "--port", str(port)], api_log, **settings)
    worker = started(installed, work, ["worker", "--pool", "solo"], worker_log, **settings)

    def judge_text() -> str:
        answer = httpx.post(f"{base}/v1/rules/test", json={"text": "第二禁语"},
                            headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert answer.status_code == 200, answer.text
        return str(answer.json()["decision"])

    def review_image() -> str:
        sent = adreview(installed, work, "submit", "ad.png", "--ids", **settings)
        ident = sent.stdout.strip()
        assert ident, sent.stderr
        shown: dict[str, object] = {}

        def judged() -> bool:
            shown.update(json.loads(adreview(installed, work, "show", ident, "--json",
                                             **settings).stdout))
            return shown.get("verdict") is not None
        wait_for(judged, 90, "no verdict", worker, worker_log)
        verdict = shown["verdict"]
        assert isinstance(verdict, dict)
        return str(verdict["decision"])

    try:
        wait_for(serving(base), 60, "the server did not come up", api, api_log)
        before = (judge_text(), review_image())
        house.write_text(LOCAL_RULES.format(phrases="本店禁语, 第二禁语"), encoding="utf-8")
        after = (judge_text(), review_image())
    finally:
        stop(api)
        stop(worker)
        for name in client.scan_iter(f"{queue}*"):
            client.delete(name)
        client.close()
    assert before == ("pass", "pass")
    assert after == ("reject", "reject")
    for log in (worker_log, api_log):
        assert f"rules: {work / 'house-rules'} (version " in log.read_text(), log.name
        assert "setup plugin" not in log.read_text()


def test_after_the_demo_the_two_commands_it_prints_show_its_verdicts_in_the_console(
    installed: Path, work: Path
) -> None:
    demo = adreview(installed, work, "demo", "-j", "2")
    assert demo.returncode == 0, demo.stderr
    commands = [shlex.split(line) for line in demo.stdout.splitlines()
                if line.startswith("  ") and ("keys" in line or "serve" in line)]
    make_key, serve = commands
    assert make_key[-6:] == ["keys", "create", "--role", "reviewer", "--name", "demo"]
    assert serve[-1] == "serve"
    assert "http://127.0.0.1:8000/review" in demo.stdout

    key = subprocess.run(make_key, cwd=work, env=environment(installed), capture_output=True,
                         text=True, timeout=120, check=True).stdout.strip()
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = work / "serve.log"
    with log.open("wb") as output:
        server = subprocess.Popen([*serve, "--port", str(port)], cwd=work,
                                  env=environment(installed), stdout=output,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_for(serving(base), 60, "the server did not come up", server, log)
        listed = httpx.get(f"{base}/v1/verdicts", params={"limit": 100},
                           headers={"Authorization": f"Bearer {key}"}, timeout=30)
    finally:
        stop(server)
    assert listed.status_code == 200, listed.text
    ads = sorted(p.name for p in (work / "demo-out" / "ads").iterdir())
    assert len(ads) == 8
    items = listed.json()["items"]
    stored = [json.loads(line) for line in
              adreview(installed, work, "verdicts", "--json").stdout.splitlines()]
    assert sorted(Path(v["source"].removeprefix("scan:")).name for v in stored) == ads
    assert sorted(item["submission"] for item in items) == sorted(v["submission"]
                                                                   for v in stored)
    assert {item["decision"] for item in items} >= {"reject", "pass"}
