"""The FastAPI application: ``create_app(settings)``.

Routes (every ``/v1`` route needs an API key; the role each admits is in ``ROUTE_ROLES``,
and ``admin`` keys may use them all), one module per resource under ``worker.api.routes``:

- producers: ``POST /v1/submissions``, ``GET /v1/submissions/{id}`` (their own only);
- dashboards (reviewers): ``GET /v1/verdicts``, ``GET /v1/stats``,
  ``GET /v1/submissions/{id}/image``, ``GET /v1/submissions/{id}/annotated``;
- reviewers: ``POST /v1/submissions/{id}/decisions``;
- rule editors: ``GET /v1/rules``, ``POST /v1/rules/test``;
- operations, no key: ``GET /health``, ``GET /ready``, ``GET /metrics``;
- reviewers in a browser: the HTML pages under ``/review`` (``worker.api.review_pages``);
- documentation, offline: ``/docs``, ``/redoc`` and ``/`` (``worker.api.docs``).

Errors are ``{"error": {"code", "message"}}`` with the status mapped in one place
(``worker.api.errors.problem_for``), unexpected ones included. Request bodies past
``body_limit(settings)`` are refused with 413 before they are read, paths and query
strings holding a NUL character with 422. ``X-Forwarded-Proto`` and ``X-Forwarded-For``
count only from ``settings.trusted_proxies``. CORS is off unless origins are configured.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from prometheus_client import Counter
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from worker.api.deps import ROUTE_ROLES
from worker.api.docs import docs_router
from worker.api.errors import error_response, problem_for
from worker.api.images import stored_image
from worker.api.review_pages import review_router
from worker.api.routes import operations, reviews, rules, submissions, verdicts
from worker.api.routes.submissions import validation_message
from worker.api.schemas import ErrorBody
from worker.api.state import ApiProblem, ApiState, body_limit
from worker.errors import AdreviewError
from worker.settings import Settings, get_settings

#: Requests served, by method, route template and status.
API_REQUESTS = Counter("adreview_api_requests_total", "HTTP API requests.",
                       ["method", "route", "status"])

ERRORS: dict[int | str, dict[str, object]] = {
    status: {"model": ErrorBody} for status in (401, 403, 404, 413, 422, 503)
}


#: The largest body of a rule editor's request (``/v1/rules...``): a candidate rule
#: folder as JSON, within the loader's ``MAX_FOLDER_BYTES`` whatever its escaping.
RULES_BODY_LIMIT = 8 * 1024 * 1024


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, by header or while streaming;
    paths under ``/v1/rules`` (text, never images) have ``RULES_BODY_LIMIT`` when that is
    lower."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def limit_for(self, path: str) -> int:
        """The body limit of a request to ``path``."""
        if path == "/v1/rules" or path.startswith("/v1/rules/"):
            return min(self.limit, RULES_BODY_LIMIT)
        return self.limit

    @staticmethod
    def _too_large(limit: int) -> JSONResponse:
        return error_response(ApiProblem(
            413, "request_too_large", f"the request body is over {limit:,} bytes"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope.get("path", ""))
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > limit:
                await self._too_large(limit)(scope, receive, send)
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise _BodyTooLarge
            return message

        async def watching_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, watching_send)
        except _BodyTooLarge:
            if not started:
                await self._too_large(limit)(scope, receive, send)


class NoSniff:
    """``X-Content-Type-Options: nosniff`` on every response, so that no browser reads a
    JSON error or an image as something else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"x-content-type-options"]
                headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, sending)


class _BodyTooLarge(Exception):
    """Raised from ``receive`` when the body passes the limit."""


class NulGuard:
    """Refuse with 422 a request whose path or query string holds a NUL character
    (``%00``): no id, filter or page link contains one, and PostgreSQL cannot compare
    text with one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            "\x00" in scope.get("path", "") or b"%00" in scope.get("query_string", b"")
            or b"%00" in (scope.get("raw_path") or b"")
        ):
            await error_response(ApiProblem(
                422, "invalid_request", "the path or query string holds a NUL character",
            ))(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, *,
               cors_origins: list[str] | None = None) -> FastAPI:
    """The API app for ``settings``; CORS for ``cors_origins`` (default
    ``settings.cors_origins``, i.e. ``ADREVIEW_CORS_ORIGINS``; none means CORS off)."""
    settings = settings or get_settings()
    state = ApiState(settings)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        state.close()

    app = FastAPI(
        title="adreview",
        version="1",
        description="Ad-image compliance review: submit ad images, read verdicts and "
                    "evidence, record reviewer decisions, test rules.",
        lifespan=lifespan,
        responses=ERRORS,
        docs_url=None,  # served by worker.api.docs from local assets
        redoc_url=None,
    )
    app.state.api = state
    origins = cors_origins if cors_origins is not None else settings.cors_origins
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["*"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"],
                           expose_headers=["Location", "Retry-After"])
    app.add_middleware(BodyLimit, limit=body_limit(settings))
    app.add_middleware(NulGuard)

    @app.middleware("http")
    async def count_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        API_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        return response

    app.add_middleware(NoSniff)
    if settings.trusted_proxies:
        from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

        app.add_middleware(ProxyHeadersMiddleware,
                           trusted_hosts=settings.trusted_proxies)

    @app.exception_handler(AdreviewError)
    async def on_project_error(_request: Request, exc: AdreviewError) -> JSONResponse:
        return error_response(problem_for(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error_response(ApiProblem(exc.status_code,
                                         codes.get(exc.status_code, f"http_{exc.status_code}"),
                                         str(exc.detail), headers=exc.headers))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(ApiProblem(422, "invalid_request",
                                         validation_message(exc.errors())))

    @app.exception_handler(Exception)
    async def on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
        return error_response(problem_for(exc))

    for module in (submissions, verdicts, reviews, rules, operations):
        app.include_router(module.router)

    app.include_router(review_router(state))
    app.include_router(docs_router(app))
    return app


def app_from_env() -> FastAPI:
    """The app for the environment's settings (uvicorn's ``--factory`` entry point)."""
    return create_app(get_settings())


__all__ = ["ROUTE_ROLES", "app_from_env", "create_app", "error_response", "stored_image"]
