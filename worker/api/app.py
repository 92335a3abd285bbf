"""The FastAPI application: ``create_app(settings)``.

Routes (every ``/v1`` route needs an API key; the role each admits is in ``ROUTE_ROLES``,
and ``admin`` keys may use them all):

- producers: ``POST /v1/submissions``, ``GET /v1/submissions/{id}``;
- dashboards (reviewers): ``GET /v1/verdicts``, ``GET /v1/stats``,
  ``GET /v1/submissions/{id}/image``, ``GET /v1/submissions/{id}/annotated``;
- reviewers: ``POST /v1/submissions/{id}/decisions``;
- rule editors: ``GET /v1/rules``, ``POST /v1/rules/test``;
- operations, no key: ``GET /health``, ``GET /ready``, ``GET /metrics``;
- reviewers in a browser: the HTML pages under ``/review`` (``worker.api.review_pages``).

Errors are ``{"error": {"code", "message"}}`` with the status mapped in one place
(``_problem_for``). Request bodies past ``body_limit(settings)`` are refused with 413
before they are read. CORS is off unless origins are configured.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, Counter
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from models.images import sniff_format
from rules.engine import UnknownIndustry
from rules.schema import Decision
from worker.api.auth import require
from worker.api.queries import (
    BadCursor,
    VerdictFilter,
    decode_cursor,
    encode_cursor,
    list_verdicts,
    verdict_stats,
)
from worker.api.schemas import (
    DecisionIn,
    ErrorBody,
    ReviewOut,
    RulesOut,
    RuleTestIn,
    RuleTestOut,
    StatsOut,
    SubmissionAccepted,
    SubmissionIn,
    SubmissionOut,
    VerdictPage,
)
from worker.api.state import ApiProblem, ApiState, body_limit
from worker.api.webhooks import check_callback_url
from worker.client import RESERVED_METADATA, BrokerUnavailable, is_url, load_image
from worker.db import (
    DatabaseUnavailable,
    InvalidRecord,
    NotFound,
    StorageError,
    StoredSubmission,
)
from worker.db.keys import StoredKey
from worker.db.models import ApiRole
from worker.db.records import ruleset_content
from worker.errors import AdreviewError, ConfigError, ImageError, RuleError
from worker.settings import Settings, get_settings

#: Which roles each route admits besides ``admin`` (documentation and tests read this).
ROUTE_ROLES: dict[tuple[str, str], frozenset[ApiRole]] = {
    ("POST", "/v1/submissions"): frozenset({ApiRole.PRODUCER}),
    ("GET", "/v1/submissions/{submission_id}"): frozenset({ApiRole.PRODUCER, ApiRole.REVIEWER}),
    ("GET", "/v1/submissions/{submission_id}/image"): frozenset({ApiRole.REVIEWER}),
    ("GET", "/v1/submissions/{submission_id}/annotated"): frozenset({ApiRole.REVIEWER}),
    ("POST", "/v1/submissions/{submission_id}/decisions"): frozenset({ApiRole.REVIEWER}),
    ("GET", "/v1/verdicts"): frozenset({ApiRole.REVIEWER}),
    ("GET", "/v1/stats"): frozenset({ApiRole.REVIEWER}),
    ("GET", "/v1/rules"): frozenset({ApiRole.RULE_EDITOR, ApiRole.REVIEWER}),
    ("POST", "/v1/rules/test"): frozenset({ApiRole.RULE_EDITOR}),
}

#: Requests served, by method, route template and status.
API_REQUESTS = Counter("adreview_api_requests_total", "HTTP API requests.",
                       ["method", "route", "status"])

#: A submission id in a route path.
SubmissionId = Annotated[str, PathParam(max_length=64, description="A submission id.")]

#: Form fields of a multipart submission besides ``file``.
FORM_FIELDS = ("ad_id", "metadata", "callback_url", "industry")
#: Media types of the image formats the decoder knows.
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
               "WEBP": "image/webp", "BMP": "image/bmp", "TIFF": "image/tiff",
               "HEIF": "image/heif"}

ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (401, 403, 404, 413, 422, 503)
}


def _roles(method: str, path: str) -> Any:
    return Depends(require(*ROUTE_ROLES[(method, path)]))


def error_response(problem: ApiProblem) -> JSONResponse:
    """The JSON answer for ``problem``."""
    body: dict[str, Any] = {"error": {"code": problem.code, "message": problem.message}}
    body.update(problem.extra)
    return JSONResponse(body, status_code=problem.status, headers=problem.headers)


def _problem_for(exc: Exception) -> ApiProblem:
    """The one place mapping the project's errors to HTTP answers."""
    if isinstance(exc, ApiProblem):
        return exc
    if isinstance(exc, BrokerUnavailable):
        return ApiProblem(503, "broker_unavailable", str(exc),
                          extra={"id": exc.submission_id})
    if isinstance(exc, DatabaseUnavailable):
        return ApiProblem(503, "database_unavailable", str(exc))
    if isinstance(exc, NotFound):
        return ApiProblem(404, "not_found", str(exc))
    if isinstance(exc, InvalidRecord):
        return ApiProblem(422, "invalid_record", str(exc))
    if isinstance(exc, ImageError):
        status = 413 if exc.code.value == "image_too_large" else 422
        return ApiProblem(status, exc.code.value, exc.message)
    if isinstance(exc, RuleError):
        return ApiProblem(500, "rules_unusable", str(exc))
    if isinstance(exc, UnknownIndustry):
        return ApiProblem(422, "unknown_industry", str(exc))
    if isinstance(exc, ConfigError):
        return ApiProblem(422, "invalid_request", str(exc))
    if isinstance(exc, StorageError):
        return ApiProblem(500, "storage_error", str(exc))
    return ApiProblem(500, "internal", f"{type(exc).__name__}: {exc}")


class BodyLimit:
    """Refuse request bodies over ``limit`` bytes with 413, by header or while streaming."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def _too_large(self) -> JSONResponse:
        return error_response(ApiProblem(
            413, "request_too_large", f"the request body is over {self.limit:,} bytes"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._too_large()(scope, receive, send)
                return
        seen = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
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
                await self._too_large()(scope, receive, send)


class _BodyTooLarge(Exception):
    """Raised from ``receive`` when the body passes the limit."""


def _submission_out(sub: StoredSubmission, verdict: dict[str, Any] | None,
                    reviews: list[dict[str, Any]]) -> SubmissionOut:
    meta = {k: v for k, v in (sub.metadata or {}).items() if k not in RESERVED_METADATA}
    return SubmissionOut(id=sub.id, ad_id=sub.ad_id, status=sub.status.value, source=sub.source,
                         sha256=sub.sha256, attempts=sub.attempts, metadata=meta,
                         industry=sub.industry,
                         created=sub.created.isoformat(), updated=sub.updated.isoformat(),
                         verdict=verdict, reviews=reviews)


def stored_image(sub: StoredSubmission, settings: Settings) -> bytes:
    """The image bytes of a submission, where this service can reach them.

    Inline submissions keep them in the database, path submissions under
    ``shared_root``, scans at the scanned path. URL submissions are not kept (and not
    fetched again here): ``ApiProblem`` 404 says so.
    """
    ref = (sub.metadata or {}).get("image_ref")
    if isinstance(ref, dict) and ("inline" in ref or "path" in ref):
        return load_image({k: str(v) for k, v in ref.items()}, settings)
    if sub.source.startswith("scan:"):
        try:
            return Path(sub.source.removeprefix("scan:")).read_bytes()
        except OSError as exc:
            raise ApiProblem(404, "image_not_available",
                             f"the scanned file of submission {sub.id} cannot be read "
                             f"({exc.strerror or exc})") from None
    if isinstance(ref, dict) and "url" in ref:
        raise ApiProblem(404, "image_not_available",
                         f"submission {sub.id} came by URL; its image is not kept here "
                         "(fetch it from the submission's source URL)")
    raise ApiProblem(404, "image_not_available",
                     f"the image of submission {sub.id} is not kept here")


def _parse_metadata(raw: str | None) -> dict[str, Any] | None:
    if raw is None or raw == "":
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ApiProblem(422, "invalid_request", f"metadata is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiProblem(422, "invalid_request", "metadata must be a JSON object")
    return value


async def _read_submission(request: Request, settings: Settings) -> tuple[
        bytes | str, str | None, dict[str, Any] | None, str | None, str | None]:
    """(image bytes or URL, ad_id, metadata, callback_url, industry) from a multipart or
    JSON body."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=len(FORM_FIELDS),
                                max_part_size=BODY_FIELD_LIMIT) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiProblem(422, "invalid_request",
                                 "a multipart submission needs a `file` part")
            data = await upload.read()
            fields = {name: form.get(name) for name in FORM_FIELDS}
        texts = {k: v if isinstance(v, str) else None for k, v in fields.items()}
        return data, texts["ad_id"] or None, _parse_metadata(texts["metadata"]), \
            texts["callback_url"] or None, texts["industry"] or None
    if not content_type.startswith("application/json"):
        raise ApiProblem(415, "unsupported_media_type",
                         "send multipart/form-data with a `file` part, or JSON")
    try:
        body = SubmissionIn.model_validate_json(await request.body())
    except ValidationError as exc:
        raise ApiProblem(422, "invalid_request", _validation_message(exc.errors())) from None
    if (body.image is None) == (body.url is None):
        raise ApiProblem(422, "invalid_request", "give exactly one of `image` (base64) or `url`")
    if body.url is not None:
        if not is_url(body.url):
            raise ApiProblem(422, "invalid_request", "`url` must be an http(s) URL")
        return body.url, body.ad_id, body.metadata, body.callback_url, body.industry
    try:
        data = base64.b64decode(body.image or "", validate=True)
    except (binascii.Error, ValueError):
        raise ApiProblem(422, "invalid_request", "`image` is not valid base64") from None
    return data, body.ad_id, body.metadata, body.callback_url, body.industry


#: Largest non-file form field (metadata JSON, URLs).
BODY_FIELD_LIMIT = 64 * 1024


def _spill_to_shared(data: bytes, settings: Settings) -> Path:
    """Write an upload too big to travel inline under ``shared_root/uploads``."""
    assert settings.shared_root is not None  # noqa: S101 - checked by the caller
    folder = settings.shared_root / "uploads"
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / hashlib.sha256(data).hexdigest()
    if not target.exists():
        partial = target.with_suffix(".part")
        partial.write_bytes(data)
        partial.replace(target)
    return target


def _validation_message(errors: Any) -> str:
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


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
    )
    app.state.api = state
    origins = cors_origins if cors_origins is not None else settings.cors_origins
    if origins:
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["*"],
                           allow_headers=["Authorization", "X-API-Key", "Content-Type"])
    app.add_middleware(BodyLimit, limit=body_limit(settings))

    @app.middleware("http")
    async def count_requests(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        route = getattr(request.scope.get("route"), "path", "unmatched")
        API_REQUESTS.labels(request.method, route, str(response.status_code)).inc()
        return response

    @app.exception_handler(AdreviewError)
    async def on_project_error(_request: Request, exc: AdreviewError) -> JSONResponse:
        return error_response(_problem_for(exc))

    @app.exception_handler(StarletteHTTPException)
    async def on_http_error(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return error_response(ApiProblem(exc.status_code,
                                         codes.get(exc.status_code, f"http_{exc.status_code}"),
                                         str(exc.detail), headers=exc.headers))

    @app.exception_handler(RequestValidationError)
    async def on_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(ApiProblem(422, "invalid_request",
                                         _validation_message(exc.errors())))

    def store_call(fn: Callable[..., Any], *args: Any) -> Awaitable[Any]:
        return run_in_threadpool(fn, *args)

    async def submission_or_404(submission_id: str) -> StoredSubmission:
        sub = await store_call(lambda: state.store().get_submission(submission_id))
        if sub is None:
            raise ApiProblem(404, "not_found", f"no submission {submission_id!r}")
        assert isinstance(sub, StoredSubmission)  # noqa: S101 - for the type checker
        return sub

    # -- producers ----------------------------------------------------------------------

    @app.post(
        "/v1/submissions", status_code=202, response_model=SubmissionAccepted,
        tags=["producers"],
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": SubmissionIn.model_json_schema()},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"},
                               "ad_id": {"type": "string"},
                               "metadata": {"type": "string",
                                            "description": "A JSON object."},
                               "callback_url": {"type": "string"},
                               "industry": {"type": "string", "description":
                                            "An industry the rule set declares."}}},
                "examples": {"upload": {
                    "summary": "An image file with an ad id and metadata",
                    "value": {"file": "(the image file)", "ad_id": "ad-19",
                              "metadata": '{"shop": "s-204"}',
                              "callback_url": "https://shop.example.com/hooks/adreview"}}}},
        }}},
        responses={503: {"model": ErrorBody, "description":
                         "Stored, but the broker is down: it will be re-sent."}},
    )
    async def create_submission(
        request: Request, key: Annotated[StoredKey, _roles("POST", "/v1/submissions")],
    ) -> SubmissionAccepted:
        """Queue an image for review: a multipart `file`, JSON base64 `image`, or JSON `url`.

        `industry` (or `metadata.industry`) declares the ad's industry; one the rule set
        does not declare is refused with 422 `unknown_industry` before anything is stored.
        On a broker outage the submission is still stored (503 names its id) and is sent
        again by `adreview requeue`.
        """
        image, ad_id, metadata, callback_url, industry = await _read_submission(
            request, settings)
        meta = dict(metadata or {})
        if callback_url is not None:
            check_callback_url(callback_url)
            meta["callback_url"] = callback_url
        meta.setdefault("submitted_by", key.name)
        target: bytes | str | Path = image
        if isinstance(image, bytes):
            if not image:
                raise ApiProblem(422, "invalid_request", "the image is empty")
            if len(image) > settings.max_image_bytes:
                raise ApiProblem(413, "image_too_large",
                                 f"the image is {len(image):,} bytes; the limit is "
                                 f"{settings.max_image_bytes:,}")
            if len(image) > settings.inline_max_bytes:
                if settings.shared_root is None:
                    raise ApiProblem(
                        413, "image_too_large",
                        f"the image is {len(image):,} bytes, over the inline limit "
                        f"({settings.inline_max_bytes:,}) and no shared folder is set "
                        "(ADREVIEW_SHARED_ROOT): send a URL instead")
                target = await run_in_threadpool(_spill_to_shared, image, settings)
        from worker.client import submit

        submission_id = await run_in_threadpool(
            lambda: submit(target, ad_id=ad_id, metadata=meta or None, settings=settings,
                           industry=industry))
        return SubmissionAccepted(id=submission_id)

    @app.get("/v1/submissions/{submission_id}", response_model=SubmissionOut,
             tags=["producers"])
    async def get_submission(
        submission_id: SubmissionId,
        _key: Annotated[StoredKey, _roles("GET", "/v1/submissions/{submission_id}")],
    ) -> SubmissionOut:
        """A submission's status, its current verdict with evidence, and reviewer decisions."""
        sub = await submission_or_404(submission_id)

        def read() -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
            store = state.store()
            current = store.current_verdict(submission_id)
            return (None if current is None else current.to_dict(),
                    [r.to_dict() for r in store.reviews(submission_id)])

        verdict, reviews = await run_in_threadpool(read)
        return _submission_out(sub, verdict, reviews)

    # -- dashboards ---------------------------------------------------------------------

    @app.get("/v1/verdicts", response_model=VerdictPage, tags=["dashboards"])
    async def get_verdicts(
        _key: Annotated[StoredKey, _roles("GET", "/v1/verdicts")],
        decision: Decision | None = None,
        category: str | None = None,
        rule: str | None = None,
        ad_id: str | None = None,
        industry: Annotated[str | None, Query(description="Judged as this industry.")] = None,
        since: Annotated[datetime | None, Query(description="Judged at or after.")] = None,
        until: Annotated[datetime | None, Query(description="Judged before.")] = None,
        limit: Annotated[int, Query(ge=1, le=500)] = 50,
        cursor: Annotated[str | None, Query(description="`next_cursor` of the page before.")]
        = None,
    ) -> VerdictPage:
        """Current verdicts, newest first, filtered; keyset pages on the verdict id.

        Pages are stable under inserts: verdicts stored after the first page was read
        never appear on, or shift, the following pages.
        """
        try:
            before = None if cursor is None else decode_cursor(cursor)
        except BadCursor as exc:
            raise ApiProblem(422, "invalid_cursor", str(exc)) from None
        where = VerdictFilter(decision, category, rule, ad_id, since, until,
                              industry=industry)
        items, next_id = await run_in_threadpool(
            list_verdicts, state.store(), where, limit, before)
        return VerdictPage(items=[i.to_dict() for i in items],
                           next_cursor=None if next_id is None else encode_cursor(next_id))

    @app.get("/v1/stats", response_model=StatsOut, tags=["dashboards"])
    async def get_stats(
        _key: Annotated[StoredKey, _roles("GET", "/v1/stats")],
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> StatsOut:
        """Counts of current verdicts by decision, by matched category and by UTC day."""
        where = VerdictFilter(since=since, until=until)
        stats = await run_in_threadpool(verdict_stats, state.store(), where)
        return StatsOut(**stats)

    @app.get("/v1/submissions/{submission_id}/image", tags=["dashboards"],
             response_class=Response,
             responses={200: {"content": {"image/*": {}}, "description": "The image."}})
    async def get_image(
        submission_id: SubmissionId,
        _key: Annotated[StoredKey, _roles("GET", "/v1/submissions/{submission_id}/image")],
    ) -> Response:
        """The submitted image, as it was sent."""
        sub = await submission_or_404(submission_id)
        data = await run_in_threadpool(stored_image, sub, settings)
        media = MEDIA_TYPES.get(sniff_format(data) or "", "application/octet-stream")
        return Response(data, media_type=media)

    @app.get("/v1/submissions/{submission_id}/annotated", tags=["dashboards"],
             response_class=Response,
             responses={200: {"content": {"image/png": {}},
                              "description": "The image with every match boxed."}})
    async def get_annotated(
        submission_id: SubmissionId,
        _key: Annotated[StoredKey, _roles("GET",
                                          "/v1/submissions/{submission_id}/annotated")],
    ) -> Response:
        """The image with every match of the current verdict outlined and labelled (PNG)."""
        sub = await submission_or_404(submission_id)
        current = await run_in_threadpool(lambda: state.store().current_verdict(submission_id))
        if current is None:
            raise ApiProblem(409, "no_verdict", f"submission {submission_id} has no verdict yet")
        data = await run_in_threadpool(stored_image, sub, settings)

        def draw() -> bytes:
            from worker.annotate import annotate

            out = io.BytesIO()
            annotate(data, current.verdict.matches, settings).save(out, format="PNG")
            return out.getvalue()

        return Response(await run_in_threadpool(draw), media_type="image/png")

    # -- reviewers ----------------------------------------------------------------------

    @app.post("/v1/submissions/{submission_id}/decisions", status_code=201,
              response_model=ReviewOut, tags=["reviewers"])
    async def post_decision(
        submission_id: SubmissionId,
        body: DecisionIn,
        key: Annotated[StoredKey, _roles("POST",
                                         "/v1/submissions/{submission_id}/decisions")],
    ) -> ReviewOut:
        """Confirm or override the current machine verdict; stored with the key's name."""
        await submission_or_404(submission_id)

        def add() -> dict[str, Any]:
            try:
                review = state.store().add_review(submission_id, key.name, body.action,
                                                  body.decision, body.note)
            except NotFound as exc:
                raise ApiProblem(409, "no_verdict", str(exc)) from None
            return review.to_dict()

        return ReviewOut(**await run_in_threadpool(add))

    # -- rule editors -------------------------------------------------------------------

    @app.get("/v1/rules", response_model=RulesOut, tags=["rule editors"])
    async def get_rules(_key: Annotated[StoredKey, _roles("GET", "/v1/rules")]) -> RulesOut:
        """The active rule set: version, categories, declared industries and rules."""
        ruleset = await run_in_threadpool(state.ruleset)
        return RulesOut(version=ruleset.version, **ruleset_content(ruleset))

    @app.post("/v1/rules/test", response_model=RuleTestOut, tags=["rule editors"])
    async def test_rules(
        body: RuleTestIn, _key: Annotated[StoredKey, _roles("POST", "/v1/rules/test")],
    ) -> RuleTestOut:
        """What fires on a text: the same JSON as `adreview rules test --json`.

        With `industry`, only the rules that apply to ads of that industry; one the rule
        set does not declare is 422 `unknown_industry`.
        """
        ruleset = await run_in_threadpool(state.ruleset)
        return RuleTestOut(**ruleset.judge(body.text, body.industry).to_dict())

    # -- operations ---------------------------------------------------------------------

    @app.get("/health", tags=["operations"])
    async def health() -> dict[str, str]:
        """Alive (the process answers); says nothing about the database or Redis."""
        return {"status": "ok"}

    @app.get("/ready", tags=["operations"],
             responses={503: {"description": "A dependency is unreachable."}})
    async def ready() -> JSONResponse:
        """Ready when the database and Redis both answer; 503 naming what failed."""
        checks = await run_in_threadpool(_readiness, state)
        ok = all(c["ok"] for c in checks.values())
        return JSONResponse({"status": "ready" if ok else "unavailable", "checks": checks},
                            status_code=200 if ok else 503)

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics() -> Response:
        """Prometheus metrics of this process (all processes in multiprocess mode)."""
        return Response(_metrics_text(), media_type=CONTENT_TYPE_LATEST)

    from worker.api.review_pages import review_router

    app.include_router(review_router(state))
    return app


def _readiness(state: ApiState) -> dict[str, dict[str, Any]]:
    from sqlalchemy import text

    checks: dict[str, dict[str, Any]] = {}
    try:
        with state.store().engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = {"ok": True}
    except Exception as exc:  # any failure means not ready; the message says which
        checks["database"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    try:
        import redis

        client = redis.Redis.from_url(state.settings.redis_url, socket_connect_timeout=2,
                                      socket_timeout=2)
        try:
            client.ping()
        finally:
            client.close()
        checks["redis"] = {"ok": True}
    except Exception as exc:  # idem
        checks["redis"] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return checks


def _metrics_text() -> bytes:
    import os

    from prometheus_client import REGISTRY, CollectorRegistry, generate_latest

    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def app_from_env() -> FastAPI:
    """The app for the environment's settings (uvicorn's ``--factory`` entry point)."""
    return create_app(get_settings())


__all__ = ["ROUTE_ROLES", "app_from_env", "create_app", "error_response", "stored_image"]
