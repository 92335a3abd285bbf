"""The API's documentation pages, served with no network: ``/docs`` (Swagger UI) and
``/redoc`` (ReDoc) load their scripts and styles from this app (``/docs-assets/``, the
files the ``fastapi-offline`` package ships), never from a CDN; ``GET /`` is a small
page leading to the reviewer console and the documentation."""

from __future__ import annotations

import functools
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.openapi.docs import (
    get_redoc_html,
    get_swagger_ui_html,
    get_swagger_ui_oauth2_redirect_html,
)
from fastapi.responses import HTMLResponse, Response

#: Where the assets live, and the files served from there (name -> media type).
ASSETS_PREFIX = "/docs-assets"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}

#: The documentation pages may load nothing from elsewhere (ReDoc's footer logo included).
DOCS_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self' 'unsafe-inline'; "
                               "style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
                               "worker-src 'self' blob:; connect-src 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
}

HOME = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>adreview</title>
<style>body{font-family:system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
a{display:block;font-size:1.2rem;margin:.8rem 0}</style></head>
<body><h1>adreview</h1>
<a href="/review">Reviewer console</a>
<a href="/docs">HTTP API documentation (Swagger UI)</a>
<a href="/redoc">HTTP API reference (ReDoc)</a>
</body></html>"""


def assets_folder() -> Path:
    """The folder of the packaged Swagger UI and ReDoc files."""
    import fastapi_offline

    return Path(fastapi_offline.__file__).parent / "static"


def _guarded(page: HTMLResponse) -> HTMLResponse:
    page.headers.update(DOCS_HEADERS)
    return page


#: Addresses in the packaged files that a page would fetch from another host, and what
#: this app serves instead (ReDoc's footer logo).
LOCAL_INSTEAD = {b"https://cdn.redoc.ly/redoc/logo-mini.svg": ASSETS_PREFIX.encode()
                 + b"/favicon.png"}


@functools.cache
def asset_bytes(folder: Path, name: str) -> bytes:
    """A packaged asset, with every address of ``LOCAL_INSTEAD`` pointed at this app."""
    data = (folder / name).read_bytes()
    for remote, local in LOCAL_INSTEAD.items():
        data = data.replace(remote, local)
    return data


#: The site's icon (``/favicon.ico``): a magnifier over a red square, as SVG.
FAVICON = (b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
           b'<rect width="32" height="32" rx="6" fill="#c62828"/>'
           b'<circle cx="14" cy="14" r="7" fill="none" stroke="#fff" stroke-width="3"/>'
           b'<path d="M19 19l7 7" stroke="#fff" stroke-width="3.5" stroke-linecap="round"/>'
           b'</svg>')


def docs_router(app: FastAPI) -> APIRouter:
    """``/``, ``/docs``, ``/docs/oauth2-redirect``, ``/redoc`` and the assets, for ``app``
    (built with ``docs_url=None, redoc_url=None``)."""
    router = APIRouter(include_in_schema=False)
    folder = assets_folder()
    title = f"{app.title} API"

    @router.get("/")
    async def home() -> HTMLResponse:
        return HTMLResponse(HOME, headers=DOCS_HEADERS)

    @router.get("/docs")
    async def swagger() -> HTMLResponse:
        return _guarded(get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json", title=title,
            oauth2_redirect_url="/docs/oauth2-redirect",
            swagger_js_url=f"{ASSETS_PREFIX}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_PREFIX}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_PREFIX}/favicon.png"))

    @router.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(FAVICON, media_type="image/svg+xml",
                        headers={"Cache-Control": "public, max-age=86400"})

    @router.get("/docs/oauth2-redirect")
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @router.get("/redoc")
    async def redoc() -> HTMLResponse:
        return _guarded(get_redoc_html(
            openapi_url=app.openapi_url or "/openapi.json", title=title,
            redoc_js_url=f"{ASSETS_PREFIX}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_PREFIX}/favicon.png", with_google_fonts=False))

    @router.get(ASSETS_PREFIX + "/{name}")
    async def asset(name: str) -> Response:
        kind = ASSETS.get(name)
        if kind is None:
            return Response(status_code=404)
        return Response(asset_bytes(folder, name), media_type=kind,
                        headers={"Cache-Control": "public, max-age=86400"})

    return router


__all__ = ["ASSETS", "ASSETS_PREFIX", "LOCAL_INSTEAD", "asset_bytes", "assets_folder",
           "docs_router"]
