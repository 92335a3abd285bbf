"""Hostile inputs through the HTTP API on SQLite and PostgreSQL: NUL characters, lone
surrogates, NaN, numbers past 64 bits, strings past the columns' lengths and malformed
URLs are answered 422 with the JSON error body, never 500, and never store anything.
Real app, real databases, real Redis (a queue no worker reads)."""

from __future__ import annotations

import base64
import json
import math
import string
from datetime import timedelta
from urllib.parse import quote

import hypothesis
import pytest
from fastapi.testclient import TestClient
from hypothesis import strategies as st

from tests.worker.test_api import (  # the API fixtures and helpers
    add_judged,
    auth,
    broker,
    client,
    error_of,
    keys,
    png,
    settings,
    store,
)
from worker.api.queries import decode_cursor, encode_cursor
from worker.api.review_pages import SESSION_COOKIE
from worker.db import Store
from worker.db.keys import ApiKeys
from worker.db.sessions import ReviewSessions

# Fixtures, used by name below.
__all__ = ["broker", "client", "keys", "settings", "store"]

IMAGE = base64.b64encode(png()).decode()


def sign_in(client: TestClient, store: Store, key: str) -> str:
    """Open a reviewer session for ``key`` and give its cookie to ``client``."""
    record = ApiKeys(store).authenticate(key)
    assert record is not None
    session_id, _ = ReviewSessions(store).create(record, timedelta(hours=1))
    client.cookies.set(SESSION_COOKIE, session_id, path="/review")
    return session_id


def _cursor(digits: str) -> str:
    return base64.urlsafe_b64encode(f"v1:{digits}".encode()).decode().rstrip("=")


def assert_refused(response: object, status: int = 422) -> dict[str, str]:
    """A JSON error answer with ``status``."""
    assert response.status_code == status, response.text  # type: ignore[attr-defined]
    assert response.headers["content-type"] == "application/json"  # type: ignore[attr-defined]
    return error_of(response)


def test_nul_characters_anywhere_a_producer_writes_are_refused_with_422(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    producer = auth(keys["producer"])
    bodies = [
        {"image": IMAGE, "ad_id": "ad\x00-1"},
        {"image": IMAGE, "metadata": {"shop": "s\x00"}},
        {"image": IMAGE, "metadata": {"sh\x00op": "s"}},
        {"image": IMAGE, "metadata": {"deep": [{"x": ["\x00"]}]}},
        {"url": "https://cdn.example.com/a\x00.jpg"},
        {"image": IMAGE, "callback_url": "https://shop.example.com/h\x00"},
        {"image": IMAGE, "industry": "medical\x00"},
    ]
    for body in bodies:
        assert "NUL" in assert_refused(client.post("/v1/submissions", headers=producer,
                                                   json=body))["message"], body
    form = client.post("/v1/submissions", headers=producer,
                       files={"file": ("a.png", png(), "image/png")},
                       data={"ad_id": "a\x00", "metadata": '{"a": "b"}'})
    assert "NUL" in assert_refused(form)["message"]
    assert store.find_submissions() == []


def test_nul_characters_in_notes_filters_and_path_ids_are_refused_with_422(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    reviewer = auth(keys["reviewer"])
    judged = add_judged(store)
    note = client.post(f"/v1/submissions/{judged}/decisions", headers=reviewer,
                       json={"action": "confirm", "note": "ok\x00"})
    assert "NUL" in assert_refused(note)["message"]
    for name in ("category", "rule", "ad_id", "industry", "since", "cursor"):
        for path in ("/v1/verdicts", "/v1/stats"):
            if name == "cursor" and path == "/v1/stats":
                continue
            answer = client.get(path, headers=reviewer, params={name: "x\x00y"})
            assert_refused(answer)
    sign_in(client, store, keys["reviewer"])
    for path in ("/v1/submissions/a%00b", "/v1/submissions/a%00b/image",
                 "/review/items/a%00b", "/review?cursor=%00"):
        assert_refused(client.get(path, headers=reviewer))
    assert store.reviews(judged) == []


def test_lengths_past_the_columns_are_refused_on_both_forms_of_a_submission(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    producer = auth(keys["producer"])
    long_id = "x" * 256
    assert "255" in assert_refused(client.post(
        "/v1/submissions", headers=producer, json={"image": IMAGE, "ad_id": long_id}))["message"]
    form = client.post("/v1/submissions", headers=producer,
                       files={"file": ("a.png", png(), "image/png")}, data={"ad_id": long_id})
    assert "255" in assert_refused(form)["message"]
    long_url = "https://cdn.example.com/" + "a" * 3000
    assert "2000" in assert_refused(client.post(
        "/v1/submissions", headers=producer, json={"url": long_url}))["message"]
    big = {"image": IMAGE, "metadata": {"blob": "x" * 70_000}}
    assert "limit" in assert_refused(client.post(
        "/v1/submissions", headers=producer, json=big))["message"]
    deep: dict[str, object] = {}
    inner = deep
    for _ in range(40):
        inner["x"] = {}
        inner = inner["x"]  # type: ignore[assignment]
    assert "deeper" in assert_refused(client.post(
        "/v1/submissions", headers=producer, json={"image": IMAGE, "metadata": deep}))["message"]
    assert store.find_submissions() == []


def test_metadata_with_nan_infinity_or_huge_integers_is_refused(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    producer = {**auth(keys["producer"]), "Content-Type": "application/json"}
    for literal in ("NaN", "Infinity", "-Infinity", "1e999", str(2**64), "9" * 5000):
        body = f'{{"image": "{IMAGE}", "metadata": {{"x": {literal}}}}}'
        answer = client.post("/v1/submissions", headers=producer, content=body)
        assert_refused(answer)
        form = client.post("/v1/submissions", headers=auth(keys["producer"]),
                           files={"file": ("a.png", png(), "image/png")},
                           data={"metadata": f'{{"x": {literal}}}'})
        assert_refused(form)
    assert store.find_submissions() == []


def test_malformed_urls_are_refused_in_both_url_fields(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    producer = auth(keys["producer"])
    for url in ["http://[zz", "gopher://cdn.example.com/a", "https://", "http:///a.jpg",
                "https://a.example:99999/", "https://exa mple.com/", "https://-a.example/",
                "javascript:alert(1)", "https://a.example/\x7f"]:
        assert_refused(client.post("/v1/submissions", headers=producer, json={"url": url}))
        assert_refused(client.post("/v1/submissions", headers=producer,
                                   json={"image": IMAGE, "callback_url": url}))
    assert store.find_submissions() == []


@pytest.mark.parametrize("digits", [str(2**63), str(2**64), "9" * 19, "9" * 5000, "٣", "+1",
                                    "-1", " 1", "1_000"])
def test_cursors_past_64_bits_or_not_plain_digits_are_invalid_cursors(
    client: TestClient, keys: dict[str, str], digits: str
) -> None:
    answer = client.get("/v1/verdicts", headers=auth(keys["reviewer"]),
                        params={"cursor": _cursor(digits)})
    assert assert_refused(answer)["code"] in {"invalid_cursor", "invalid_request"}


def test_the_largest_cursor_is_read_and_finds_every_verdict(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    judged = add_judged(store)
    top = encode_cursor(2**63 - 1)
    assert decode_cursor(top) == 2**63 - 1
    page = client.get("/v1/verdicts", headers=auth(keys["reviewer"]), params={"cursor": top})
    assert page.status_code == 200 and [i["submission"] for i in page.json()["items"]] == [
        judged]


def test_huge_numbers_in_limits_and_times_are_422(
    client: TestClient, keys: dict[str, str]
) -> None:
    reviewer = auth(keys["reviewer"])
    for params in ({"limit": str(2**70)}, {"limit": "9" * 5000}, {"since": "9" * 60},
                   {"since": "999999999d"}, {"until": "99999999999999999999"},
                   {"since": "10000-01-01"}):
        assert_refused(client.get("/v1/verdicts", headers=reviewer, params=params))


# -- properties ---------------------------------------------------------------------------

#: Text the storage layer cannot hold, mixed with ordinary text.
hostile_text = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("a\x00\ud800é全"), min_size=1, max_size=20),
    st.just("x" * 5000),
    st.sampled_from(["\x00", "NaN", "-1", str(2**63), "9" * 400, "%00", "../", "'; --"]),
)
#: JSON values, some of which JSON (or a 64-bit column) cannot carry.
hostile_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), hostile_text),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(hostile_text, inner, max_size=3)),
    max_leaves=8,
)


def _storable(value: object) -> bool:
    """Whether the API should accept ``value`` as metadata content."""
    if isinstance(value, str):
        return "\x00" not in value and not any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return abs(value) < 2**63
    if isinstance(value, list):
        return all(_storable(v) for v in value)
    if isinstance(value, dict):
        return all(_storable(k) and _storable(v) for k, v in value.items())
    return False


def _quoted(text: str) -> str:
    return json.dumps(text)  # keeps lone surrogates as \\ud800 escapes


@hypothesis.settings(max_examples=60, deadline=None, database=None,
                     suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
@hypothesis.given(ad_id=hostile_text, metadata=hostile_json, industry=hostile_text)
def test_no_submission_body_is_a_server_error(
    client: TestClient, keys: dict[str, str], ad_id: str, metadata: object, industry: str
) -> None:
    body = json.dumps({"image": IMAGE, "ad_id": "@AD", "metadata": {"m": "@META"},
                       "industry": "@INDUSTRY"})
    body = (body.replace('"@AD"', _quoted(ad_id)).replace('"@META"', json.dumps(metadata))
            .replace('"@INDUSTRY"', _quoted(industry)))
    answer = client.post("/v1/submissions", content=body, headers={
        **auth(keys["producer"]), "Content-Type": "application/json"})
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400:
        error_of(answer)
    if not _storable(metadata) or not _storable(ad_id):
        assert answer.status_code == 422, (ad_id, metadata)


@hypothesis.settings(max_examples=80, deadline=None, database=None,
                     suppress_health_check=[hypothesis.HealthCheck.function_scoped_fixture])
@hypothesis.given(
    name=st.sampled_from(["decision", "category", "rule", "ad_id", "industry", "since",
                          "until", "limit", "cursor"]),
    values=st.lists(st.one_of(hostile_text, st.integers().map(str),
                              st.text(string.digits, min_size=1, max_size=60).map(_cursor)),
                    min_size=1, max_size=3),
    path=st.sampled_from(["/v1/verdicts", "/v1/stats", "/review"]),
)
def test_no_filter_or_cursor_is_a_server_error(
    client: TestClient, store: Store, keys: dict[str, str], name: str, values: list[str],
    path: str,
) -> None:
    sign_in(client, store, keys["reviewer"])
    # Lone surrogates go as the (invalid) UTF-8 bytes they would have.
    query = "&".join(f"{name}={quote(v.encode('utf-8', 'surrogatepass'))}" for v in values)
    answer = client.get(f"{path}?{query}", headers=auth(keys["reviewer"]),
                        follow_redirects=False)
    assert answer.status_code < 500, answer.text
    if answer.status_code >= 400 and path != "/review":
        error_of(answer)


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://10.0.0.5/banner.png", "a private address"),
        ("http://192.168.1.20:8080/banner.png", "a private address"),
        ("http://127.0.0.1/banner.png", "a loopback address"),
        ("http://localhost/banner.png", "a loopback address"),
        ("http://2130706433/banner.png", "a loopback address"),
        ("http://169.254.169.254/latest/meta-data", "a link-local address"),
        ("http://[fe80::1]/banner.png", "a link-local address"),
    ],
)
def test_a_url_the_workers_would_refuse_is_refused_at_submit_time_naming_the_setting(
    client: TestClient, store: Store, keys: dict[str, str], url: str, why: str
) -> None:
    answer = client.post("/v1/submissions", headers=auth(keys["producer"]), json={"url": url})

    error = assert_refused(answer)
    assert error["code"] == "url_not_allowed"
    assert why in error["message"]
    assert "ADREVIEW_ALLOW_PRIVATE_URLS=true" in error["message"]
    assert store.find_submissions() == []
