"""Reviewer sessions of the ``/review`` pages: the cookie holds a random session id (never
the key), the database only its hash; a session expires, ends on sign-out wherever a
copy of the cookie is, and ends with its key; the cookie is ``Secure`` when the request
came over HTTPS, ``X-Forwarded-Proto`` counting only from trusted proxies. Real app
(TestClient), SQLite and PostgreSQL, real API keys."""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from datetime import timedelta
from http.cookies import SimpleCookie

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text, update

from rules.schema import Decision
from tests.worker.test_api import add_judged, broker, keys, settings, store
from worker.api import create_app
from worker.api.queries import encode_cursor
from worker.api.review_pages import SESSION_COOKIE
from worker.db import Store
from worker.db.keys import ApiKeys
from worker.db.models import ApiRole, ReviewSession, utcnow
from worker.db.sessions import ReviewSessions, hash_session
from worker.settings import Settings

# Fixtures, used by name below.
__all__ = ["broker", "keys", "settings", "store"]

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


def _client(settings: Settings, **kwargs: object) -> TestClient:
    return TestClient(create_app(settings, cors_origins=[]), follow_redirects=False,
                      **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def pages(settings: Settings, store: Store) -> Iterator[TestClient]:
    """A client of the pages that does not follow redirects."""
    with _client(settings) as made:
        yield made


def csrf_of(client: TestClient, page: str = "/review/login") -> str:
    """The CSRF token of a page's form (its cookie is set on the way)."""
    found = CSRF.search(client.get(page).text)
    assert found is not None
    return found[1]


def sign_in(client: TestClient, key: str, **headers: str) -> tuple[str, SimpleCookie]:
    """Sign in with ``key``; (the session cookie's value, the parsed Set-Cookie)."""
    answer = client.post("/review/login", data={"key": key, "csrf": csrf_of(client),
                                                "next": "/review"}, headers=headers)
    assert answer.status_code == 303, answer.text
    cookie: SimpleCookie = SimpleCookie()
    for value in answer.headers.get_list("set-cookie"):
        cookie.load(value)
    return cookie[SESSION_COOKIE].value, cookie


def test_the_cookie_holds_a_random_session_id_and_the_database_only_its_hash(
    pages: TestClient, store: Store, keys: dict[str, str], settings: Settings
) -> None:
    session_id, cookie = sign_in(pages, keys["reviewer"])
    assert session_id != keys["reviewer"] and keys["reviewer"] not in session_id
    assert len(session_id) >= 40
    morsel = cookie[SESSION_COOKIE]
    assert morsel["httponly"] and morsel["samesite"] == "strict" and morsel["path"] == "/review"
    assert int(morsel["max-age"]) == int(settings.review_session_minutes * 60)
    assert not morsel["secure"]  # plain http, no trusted proxy
    with store.engine.connect() as connection:
        stored = connection.execute(text("SELECT token_hash, expires_at FROM review_sessions"))
        rows = stored.all()
    assert [r[0] for r in rows] == [hash_session(session_id)]
    assert pages.get("/review").status_code == 200


def test_the_raw_key_in_the_cookie_no_longer_signs_in(
    pages: TestClient, keys: dict[str, str]
) -> None:
    pages.cookies.set(SESSION_COOKIE, keys["reviewer"], path="/review")
    answer = pages.get("/review")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/review/login")


def test_signing_out_ends_the_session_for_every_copy_of_the_cookie(
    settings: Settings, store: Store, keys: dict[str, str]
) -> None:
    with _client(settings) as browser, _client(settings) as thief:
        session_id, _ = sign_in(browser, keys["reviewer"])
        thief.cookies.set(SESSION_COOKIE, session_id, path="/review")
        assert thief.get("/review").status_code == 200
        out = browser.post("/review/logout", data={"csrf": csrf_of(browser, "/review")})
        assert out.status_code == 303 and out.headers["location"] == "/review/login"
        assert SESSION_COOKIE in out.headers["set-cookie"]  # deleted in the browser
        assert thief.get("/review").status_code == 303  # and refused on the server
    assert ReviewSessions(store).lookup(session_id) is None


def test_a_session_expires(pages: TestClient, store: Store, keys: dict[str, str]) -> None:
    session_id, _ = sign_in(pages, keys["reviewer"])
    assert pages.get("/review").status_code == 200
    with store.engine.begin() as connection:
        connection.execute(update(ReviewSession).values(
            expires_at=utcnow() - timedelta(seconds=1)))
    assert pages.get("/review").status_code == 303
    assert ReviewSessions(store).lookup(session_id) is None


def test_revoking_the_key_ends_its_sessions(
    pages: TestClient, store: Store, keys: dict[str, str]
) -> None:
    sign_in(pages, keys["reviewer"])
    record = ApiKeys(store).authenticate(keys["reviewer"])
    assert record is not None
    ApiKeys(store).revoke(record.id)
    assert pages.get("/review").status_code == 303


def test_old_ended_sessions_are_purged_when_new_ones_start(
    store: Store, keys: dict[str, str]
) -> None:
    sessions = ReviewSessions(store)
    record = ApiKeys(store).authenticate(keys["reviewer"])
    assert record is not None
    old, _ = sessions.create(record, timedelta(days=-3))
    ended, _ = sessions.create(record, timedelta(hours=1))
    assert sessions.revoke(ended) and not sessions.revoke(ended)
    sessions.create(record, timedelta(hours=1))
    with store.engine.connect() as connection:
        hashes = {r[0] for r in connection.execute(text("SELECT token_hash FROM review_sessions"))}
    assert hash_session(old) not in hashes and hash_session(ended) in hashes
    assert sessions.lookup(old) is None and sessions.lookup(ended) is None


def test_producer_keys_open_no_session(pages: TestClient, keys: dict[str, str]) -> None:
    answer = pages.post("/review/login", data={"key": keys["producer"],
                                               "csrf": csrf_of(pages)})
    assert answer.status_code == 403 and SESSION_COOKIE not in answer.headers.get(
        "set-cookie", "")


def test_the_cookie_is_secure_over_https_and_behind_a_trusted_proxy_only(
    settings: Settings, store: Store, keys: dict[str, str]
) -> None:
    with _client(settings, base_url="https://testserver") as direct:
        assert sign_in(direct, keys["reviewer"])[1][SESSION_COOKIE]["secure"]
    forwarded = {"X-Forwarded-Proto": "https"}
    with _client(settings) as untrusted:
        assert not sign_in(untrusted, keys["reviewer"], **forwarded)[1][SESSION_COOKIE]["secure"]
    behind = settings.model_copy(update={"trusted_proxies": ["testclient"]})
    with _client(behind) as proxied:
        cookie = sign_in(proxied, keys["reviewer"], **forwarded)[1]
        assert cookie[SESSION_COOKIE]["secure"]
        assert not sign_in(proxied, keys["reviewer"])[1][SESSION_COOKIE]["secure"]


def test_a_forged_form_is_refused_before_the_session_is_looked_at(
    pages: TestClient, store: Store, keys: dict[str, str]
) -> None:
    judged = add_judged(store)
    sign_in(pages, keys["reviewer"])
    forged = pages.post(f"/review/items/{judged}/decision",
                        data={"action": "confirm", "csrf": "x" * 40})
    assert forged.status_code == 403
    assert store.reviews(judged) == []


def test_page_errors_show_no_storage_details(
    pages: TestClient, store: Store, keys: dict[str, str]
) -> None:
    sign_in(pages, keys["reviewer"])
    csrf = csrf_of(pages, "/review")
    queued = store.add_submission(None, "inline")
    for target in ("no-such-item", queued):
        answer = pages.post(f"/review/items/{target}/decision",
                            data={"action": "confirm", "csrf": csrf})
        assert answer.status_code in (404, 422), answer.text
        assert store.url not in answer.text
        assert "postgresql" not in answer.text and "sqlite" not in answer.text
    judged = add_judged(store, Decision.REVIEW)
    nul = pages.post(f"/review/items/{judged}/decision",
                     data={"action": "confirm", "csrf": csrf, "note": "a\x00b"})
    assert nul.status_code == 422 and "NUL" in nul.text
    assert store.reviews(judged) == []


@pytest.mark.parametrize("cursor", [
    encode_cursor(2**63 - 1),
    base64.urlsafe_b64encode(f"v1:{2**63}".encode()).decode().rstrip("="),
    base64.urlsafe_b64encode(("v1:" + "9" * 5000).encode()).decode().rstrip("="),
])
def test_the_queue_page_answers_any_cursor_without_a_server_error(
    pages: TestClient, store: Store, keys: dict[str, str], cursor: str
) -> None:
    add_judged(store)
    sign_in(pages, keys["reviewer"])
    answer = pages.get("/review", params={"cursor": cursor})
    assert answer.status_code in (200, 422), answer.text


def test_an_admin_key_signs_in_too(pages: TestClient, store: Store) -> None:
    key = ApiKeys(store).create(ApiRole.ADMIN, "root")[1]
    sign_in(pages, key)
    assert pages.get("/review").status_code == 200
