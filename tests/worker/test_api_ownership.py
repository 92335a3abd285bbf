"""Who sees a submission through the HTTP API: a producer key sees only the submissions it
made, reviewers and admins see all; ``submitted_by`` is the server's word, and a callback
URL is taken only from its own field, checked, and said to be inert without a webhook
secret. Real app, SQLite and PostgreSQL, real Redis (a queue no worker reads)."""

from __future__ import annotations

import base64

from fastapi.testclient import TestClient

from tests.worker.test_api import (  # the API fixtures and helpers
    add_judged,
    auth,
    broker,
    client,
    error_of,
    key_id,
    keys,
    png,
    settings,
    store,
)
from worker.api import create_app
from worker.db import Store
from worker.db.keys import ApiKeys
from worker.db.models import ApiRole
from worker.settings import Settings

# Fixtures, used by name below.
__all__ = ["broker", "client", "keys", "settings", "store"]

IMAGE = base64.b64encode(png()).decode()


def test_a_producer_key_sees_its_own_submissions_and_no_one_elses(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    # Another producer key, even one with the same name as the first.
    other = ApiKeys(store).create(ApiRole.PRODUCER, "producer-person")[1]
    mine = client.post("/v1/submissions", headers=auth(keys["producer"]),
                       json={"image": IMAGE, "ad_id": "mine",
                             "callback_url": "https://shop.example.com/hook?token=s3cret"})
    assert mine.status_code == 202, mine.text
    ident = mine.json()["id"]
    own = client.get(f"/v1/submissions/{ident}", headers=auth(keys["producer"]))
    assert own.status_code == 200 and own.json()["ad_id"] == "mine"
    theirs = client.get(f"/v1/submissions/{ident}", headers=auth(other))
    assert theirs.status_code == 404 and error_of(theirs)["code"] == "not_found"
    assert "s3cret" not in theirs.text
    for role in ("reviewer", "admin"):
        seen = client.get(f"/v1/submissions/{ident}", headers=auth(keys[role]))
        assert seen.status_code == 200
        assert seen.json()["metadata"]["callback_url"].endswith("token=s3cret")
    stored = store.get_submission(ident)
    assert stored is not None and stored.api_key_id == key_id(store, keys["producer"])


def test_submissions_made_without_a_key_are_seen_by_reviewers_only(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    scanned = add_judged(store)  # a scan, the Python client, a row from before
    assert client.get(f"/v1/submissions/{scanned}",
                      headers=auth(keys["producer"])).status_code == 404
    assert client.get(f"/v1/submissions/{scanned}",
                      headers=auth(keys["reviewer"])).status_code == 200


def test_submitted_by_is_the_key_name_and_cannot_be_claimed(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    made = client.post("/v1/submissions", headers=auth(keys["producer"]),
                       json={"image": IMAGE, "metadata": {"shop": "s-1"}})
    stored = store.get_submission(made.json()["id"])
    assert stored is not None and stored.metadata is not None
    assert stored.metadata["submitted_by"] == "producer-person"
    claimed = client.post("/v1/submissions", headers=auth(keys["producer"]),
                          json={"image": IMAGE, "metadata": {"submitted_by": "admin-person"}})
    assert claimed.status_code == 422 and "set by the server" in error_of(claimed)["message"]
    form = client.post("/v1/submissions", headers=auth(keys["producer"]),
                       files={"file": ("a.png", png(), "image/png")},
                       data={"metadata": '{"submitted_by": "admin-person"}'})
    assert form.status_code == 422


def test_a_callback_url_is_taken_only_from_its_own_field(
    client: TestClient, store: Store, keys: dict[str, str]
) -> None:
    producer = auth(keys["producer"])
    for hidden in ("http://[zz", "gopher://x.example/", "https://fine.example.com/hook"):
        answer = client.post("/v1/submissions", headers=producer,
                             json={"image": IMAGE, "metadata": {"callback_url": hidden}})
        assert answer.status_code == 422, hidden
        assert "own field" in error_of(answer)["message"]
    for bad in ("http://[zz", "gopher://x.example/", "https://a.example/\x00",
                "https://a.example:0/"):
        answer = client.post("/v1/submissions", headers=producer,
                             json={"image": IMAGE, "callback_url": bad})
        assert answer.status_code == 422, bad
        form = client.post("/v1/submissions", headers=producer,
                           files={"file": ("a.png", png(), "image/png")},
                           data={"callback_url": bad})
        assert form.status_code == 422, bad
    assert store.find_submissions() == []


def test_a_callback_url_without_a_webhook_secret_is_accepted_with_a_warning(
    settings: Settings, store: Store, keys: dict[str, str]
) -> None:
    body = {"image": IMAGE, "callback_url": "https://shop.example.com/hook"}
    with TestClient(create_app(settings, cors_origins=[])) as client:
        unsigned = client.post("/v1/submissions", headers=auth(keys["producer"]), json=body)
        plain = client.post("/v1/submissions", headers=auth(keys["producer"]),
                            json={"image": IMAGE})
    assert unsigned.status_code == 202
    assert any("ADREVIEW_WEBHOOK_SECRET" in w for w in unsigned.json()["warnings"])
    assert plain.json()["warnings"] == []
    signed = settings.model_copy(update={"webhook_secret": "s3cret-for-tests"})
    with TestClient(create_app(signed, cors_origins=[])) as client:
        answer = client.post("/v1/submissions", headers=auth(keys["producer"]), json=body)
    assert answer.status_code == 202 and answer.json()["warnings"] == []
