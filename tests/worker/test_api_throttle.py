"""Failed sign-ins are throttled per client address on a real ``adreview serve``: the
eleventh wrong key within a minute is 429 with ``Retry-After`` (on the API and on the
console's sign-in form alike), and every answer says ``nosniff``."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.worker.processes import served_api
from worker.api.state import ApiProblem
from worker.api.throttle import MAX_FAILURES, FailureThrottle
from worker.db import Store
from worker.db.keys import ApiKeys


@pytest.mark.slow
def test_repeated_wrong_keys_and_logins_get_429_with_retry_after(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    with Store.open(url) as store:
        _, key = ApiKeys(store).create("reviewer", "ana")
    env = {"ADREVIEW_DATABASE_URL": url, "ADREVIEW_REDIS_URL": "redis://127.0.0.1:1/0"}
    with served_api(tmp_path, env) as api, \
            httpx.Client(base_url=api.base, timeout=30) as http:
        good = http.get("/v1/verdicts", headers={"Authorization": f"Bearer {key}"})
        assert good.status_code == 200
        assert good.headers["X-Content-Type-Options"] == "nosniff"
        wrong = {"Authorization": "Bearer adr_" + "x" * 40}
        answers = [http.get("/v1/verdicts", headers=wrong) for _ in range(MAX_FAILURES)]
        assert [a.status_code for a in answers] == [401] * MAX_FAILURES
        assert all(a.headers["X-Content-Type-Options"] == "nosniff" for a in answers)
        refused = http.get("/v1/verdicts", headers=wrong)
        assert refused.status_code == 429
        assert refused.json()["error"]["code"] == "too_many_attempts"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        assert refused.headers["X-Content-Type-Options"] == "nosniff"
        # Even the right key waits: guessing among good keys gains nothing.
        assert http.get("/v1/verdicts", headers={"Authorization": f"Bearer {key}"}
                        ).status_code == 429
        form = http.get("/review/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text)
        assert csrf is not None
        login = http.post("/review/login", data={"key": "adr_wrong", "csrf": csrf.group(1)})
        assert login.status_code == 429
        assert int(login.headers["Retry-After"]) >= 1
        assert "Too many failed sign-ins" in login.text
        assert http.get("/health").headers["X-Content-Type-Options"] == "nosniff"


def test_failures_leave_the_window_and_each_address_counts_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr("worker.api.throttle.time.monotonic", lambda: now[0])
    throttle = FailureThrottle(max_failures=3, window=60)
    for _ in range(3):
        throttle.failed("10.0.0.1")
    assert throttle.retry_after("10.0.0.1") == 60
    assert throttle.retry_after("10.0.0.2") == 0
    with pytest.raises(ApiProblem) as caught:
        throttle.check("10.0.0.1")
    assert (caught.value.status, caught.value.headers["Retry-After"]) == (429, "60")
    now[0] += 59.5
    assert throttle.retry_after("10.0.0.1") == 1
    now[0] += 1
    assert throttle.retry_after("10.0.0.1") == 0
