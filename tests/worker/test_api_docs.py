"""The API documentation works with the network unplugged: ``/docs`` and ``/redoc`` load
only this app's assets (no external URL in the pages), and render in headless Chromium
with every request to another host refused; ``/`` leads to the console and the docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.worker.test_review_pages import CHROMIUM_ARGS, Server, _chromium, server
from worker.api import create_app
from worker.settings import Settings

__all__ = ["server"]

EXTERNAL = re.compile(r"""(?:src|href|url)\s*[=:(]\s*["']?(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture
def client(tmp_path: Path) -> TestClient:
    return TestClient(create_app(Settings(database_url=f"sqlite:///{tmp_path / 'a.db'}"),
                                 cors_origins=[]))


def test_the_docs_pages_name_no_external_url_and_their_assets_are_served(
    client: TestClient
) -> None:
    for path in ("/docs", "/redoc", "/"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert not EXTERNAL.search(page.text), (path, EXTERNAL.search(page.text))
        assert "cdn.jsdelivr" not in page.text and "fonts.googleapis" not in page.text
    home = client.get("/").text
    assert 'href="/review"' in home and 'href="/docs"' in home
    for name, kind in (("swagger-ui-bundle.js", "text/javascript"),
                       ("swagger-ui.css", "text/css"),
                       ("redoc.standalone.js", "text/javascript")):
        asset = client.get(f"/docs-assets/{name}")
        assert asset.status_code == 200 and asset.headers["content-type"].startswith(kind)
        assert len(asset.content) > 100_000
    assert client.get("/docs-assets/../app.py").status_code == 404
    assert client.get("/docs/oauth2-redirect").status_code == 200
    assert "/docs" not in client.get("/openapi.json").json()["paths"]


@pytest.mark.slow
def test_docs_render_in_chromium_with_the_network_unplugged(server: Server,
                                                            tmp_path: Path) -> None:
    from playwright.sync_api import Route, expect, sync_playwright

    refused: list[str] = []

    def only_local(route: Route) -> None:
        if route.request.url.startswith(server.url):
            route.continue_()
        else:
            refused.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=_chromium(), headless=True,
                                     args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.route("**/*", only_local)
            page.goto(f"{server.url}/docs")
            expect(page.locator(".swagger-ui .info .title")).to_contain_text("adreview")
            expect(page.locator(".opblock-summary-path").first).to_be_visible()
            page.screenshot(path=str(tmp_path / "docs.png"))
            page.goto(f"{server.url}/redoc")
            expect(page.locator("h1").first).to_contain_text("adreview")
        finally:
            browser.close()
    assert refused == []


def test_the_redoc_script_fetches_its_footer_logo_from_this_app(client: TestClient) -> None:
    from worker.api.docs import assets_folder

    packaged = (assets_folder() / "redoc.standalone.js").read_bytes()
    assert b"https://cdn.redoc.ly/" in packaged  # what the package ships
    served = client.get("/docs-assets/redoc.standalone.js").content
    assert b"https://cdn.redoc.ly/" not in served
    assert b"/docs-assets/favicon.png" in served
