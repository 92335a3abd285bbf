"""The reviewer's pages under ``/review``: server-rendered HTML, no front-end build.

- ``GET /review/login``, ``POST /review/login``: the API key is given once; a reviewer or
  admin key then opens a server-side session (``worker.db.sessions``): the cookie holds
  a random session id, never the key, is HttpOnly, SameSite=Strict, scoped to
  ``/review``, lasts ``settings.review_session_minutes`` and is ``Secure`` when the
  request came over HTTPS (``X-Forwarded-Proto`` counts from ``settings.trusted_proxies``).
- ``GET /review``: the queue of current ``review`` and ``reject`` verdicts, newest first,
  in keyset pages (``?cursor=``), each with its annotated image, evidence and a form.
- ``GET /review/items/{id}``: one item; ``GET /review/items/{id}/annotated.png`` its image.
- ``POST /review/items/{id}/decision``: confirm or override, stored through
  ``Store.add_review`` (the machine verdict is never changed), then back to the page.
- ``POST /review/logout``: the session ends on the server (the cookie no longer works,
  wherever a copy of it is).

Every form carries a CSRF token checked against a cookie of the same value (double
submit), before anything else is looked at; the cookies are SameSite=Strict as well.
Error pages never show storage details. The pages are not in the OpenAPI schema.
"""

from __future__ import annotations

import hmac
import io
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader

from rules.schema import Decision
from worker.api.decisions import record_decision
from worker.api.errors import public_message
from worker.api.inputs import text_problem
from worker.api.queries import BadCursor, VerdictFilter, decode_cursor, encode_cursor, list_verdicts
from worker.api.state import ApiProblem, ApiState
from worker.db import InvalidRecord, NotFound, StoredReview, StoredVerdict
from worker.db.keys import StoredKey
from worker.db.models import ApiRole, ReviewAction

#: Cookie holding the reviewer's session id (HttpOnly, SameSite=Strict, path ``/review``).
#: The name is older than the sessions; the value has never been a key since.
SESSION_COOKIE = KEY_COOKIE = "adreview_key"
#: Longest session id looked up (``secrets.token_urlsafe(32)`` is 43 characters).
MAX_SESSION_LENGTH = 128
#: Cookie holding the CSRF token that every form repeats.
CSRF_COOKIE = "adreview_csrf"
#: Roles that may use the pages.
PAGE_ROLES = frozenset({ApiRole.REVIEWER, ApiRole.ADMIN})
#: Items per queue page by default, and at most.
PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
#: The decisions that put an item in the queue.
QUEUE_DECISIONS = (Decision.REVIEW, Decision.REJECT)
#: Headers of every page: no framing, no caching, only this origin's resources.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

TEMPLATES = Environment(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=True,
    trim_blocks=True,
    lstrip_blocks=True,
)


class _LoginNeeded(Exception):
    """No usable key cookie: the browser goes to the login page."""


def _csrf_token(request: Request) -> tuple[str, bool]:
    """The request's CSRF token and whether it is new (then the cookie must be set)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    if len(token) >= 32:
        return token, False
    return secrets.token_urlsafe(32), True


def _csrf_ok(request: Request, given: str) -> bool:
    cookie = request.cookies.get(CSRF_COOKIE, "")
    return len(cookie) >= 32 and hmac.compare_digest(cookie.encode(), given.encode())


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _page(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """Render ``template`` with the CSRF token; sets the CSRF cookie when it is new."""
    token, new = _csrf_token(request)
    html = TEMPLATES.get_template(template).render(csrf=token, **context)
    response = HTMLResponse(html, status_code=status, headers=PAGE_HEADERS)
    if new:
        response.set_cookie(CSRF_COOKIE, token, path="/review", httponly=True,
                            samesite="strict", secure=_secure(request))
    return response


def _safe_next(target: str | None) -> str:
    """``target`` when it is a page of ours, else the queue (no open redirects)."""
    if target and target.startswith("/review") and "//" not in target and "\\" not in target:
        return target
    return "/review"


def _redirect(target: str) -> RedirectResponse:
    return RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)


def _annotated_png(state: ApiState, submission_id: str) -> bytes:
    """The submission's image with the current verdict's matches drawn (PNG bytes)."""
    from worker.annotate import annotate
    from worker.api.images import stored_image

    store = state.store()
    sub = store.get_submission(submission_id)
    if sub is None:
        raise ApiProblem(404, "not_found", f"no submission {submission_id!r}")
    current = store.current_verdict(submission_id)
    if current is None:
        raise ApiProblem(409, "no_verdict", f"submission {submission_id} has no verdict yet")
    data = stored_image(sub, state.settings)
    out = io.BytesIO()
    annotate(data, current.verdict.matches, state.settings).save(out, format="PNG")
    return out.getvalue()


def _item_view(verdict: StoredVerdict, reviews: list[StoredReview]) -> dict[str, Any]:
    """What the templates show of one queue item."""
    return {
        "id": verdict.submission,
        "ad_id": verdict.ad_id,
        "source": verdict.source,
        "decision": verdict.decision.value,
        "judged": verdict.judged.strftime("%Y-%m-%d %H:%M:%S UTC"),
        "ruleset": verdict.verdict.ruleset,
        "engine": verdict.verdict.engine,
        "matches": [m.to_dict() for m in verdict.verdict.matches],
        "reviews": [{**r.to_dict(), "created": r.created.strftime("%Y-%m-%d %H:%M:%S")}
                    for r in reviews],
        "others": [d.value for d in Decision
                   if d is not Decision.ERROR and d is not verdict.decision],
        "quoted_id": quote(verdict.submission, safe=""),
    }


def review_router(state: ApiState) -> APIRouter:
    """The ``/review`` pages of an app whose shared resources are ``state``."""
    router = APIRouter(prefix="/review", include_in_schema=False)

    async def reviewer(request: Request) -> StoredKey:
        given = request.cookies.get(SESSION_COOKIE)
        if not given or len(given) > MAX_SESSION_LENGTH:
            raise _LoginNeeded
        key = await state.run_db(lambda: state.sessions().lookup(given))
        if key is None or key.role not in PAGE_ROLES:
            raise _LoginNeeded
        return key

    def to_login(request: Request) -> RedirectResponse:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        response = _redirect("/review/login?" + urlencode({"next": back}))
        response.delete_cookie(SESSION_COOKIE, path="/review", httponly=True,
                               samesite="strict", secure=_secure(request))
        return response

    def form_expired(request: Request, key: StoredKey | None) -> HTMLResponse:
        if key is None:
            return _page(request, "login.html", 403, next="/review",
                         error="The form expired; please sign in again.")
        return _page(request, "message.html", 403, key=key, title="Form expired",
                     message="The form's security token did not match; reload the page "
                             "and try again.")

    @router.get("/login")
    async def login_form(request: Request, next: str | None = None) -> HTMLResponse:
        return _page(request, "login.html", next=_safe_next(next), error=None)

    @router.post("/login")
    async def login(
        request: Request,
        key: Annotated[str, Form(max_length=200)],
        csrf: Annotated[str, Form(max_length=200)],
        next: Annotated[str | None, Form(max_length=2000)] = None,
    ) -> Response:
        target = _safe_next(next)
        if not _csrf_ok(request, csrf):
            return _page(request, "login.html", 403, next=target,
                         error="The form expired; please sign in again.")
        found = await state.run_db(lambda: state.keys().authenticate(key.strip()))
        if found is None:
            return _page(request, "login.html", 401, next=target,
                         error="This API key is unknown or revoked.")
        if found.role not in PAGE_ROLES:
            return _page(request, "login.html", 403, next=target,
                         error=f"This key's role ({found.role.value}) may not review; "
                               "a reviewer or admin key is needed.")
        lifetime = timedelta(minutes=state.settings.review_session_minutes)
        session_id, _expires = await state.run_db(
            lambda: state.sessions().create(found, lifetime))
        response = _redirect(target)
        response.set_cookie(SESSION_COOKIE, session_id, path="/review", httponly=True,
                            samesite="strict", secure=_secure(request),
                            max_age=max(1, int(lifetime.total_seconds())))
        return response

    @router.post("/logout")
    async def logout(request: Request, csrf: Annotated[str, Form(max_length=200)]) -> Response:
        if not _csrf_ok(request, csrf):
            return form_expired(request, None)
        given = request.cookies.get(SESSION_COOKIE)
        if given and len(given) <= MAX_SESSION_LENGTH:
            await state.run_db(lambda: state.sessions().revoke(given))
        response = _redirect("/review/login")
        response.delete_cookie(SESSION_COOKIE, path="/review", httponly=True,
                               samesite="strict", secure=_secure(request))
        return response

    @router.get("")
    async def queue(
        request: Request,
        cursor: str | None = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
    ) -> Response:
        try:
            key = await reviewer(request)
        except _LoginNeeded:
            return to_login(request)
        try:
            before = None if cursor is None else decode_cursor(cursor)
        except BadCursor as exc:
            return _page(request, "message.html", 422, key=key, title="Bad page link",
                         message=str(exc))

        def read() -> tuple[list[dict[str, Any]], int | None]:
            store = state.store()
            items, next_id = list_verdicts(store, VerdictFilter(decisions=QUEUE_DECISIONS),
                                           limit, before)
            return [_item_view(v, store.reviews(v.submission)) for v in items], next_id

        items, next_id = await state.run_db(read)
        next_link = None
        if next_id is not None:
            next_link = f"/review?limit={limit}&cursor={encode_cursor(next_id)}"
        kept = urlencode([(k, v) for k, v in request.query_params.multi_items() if k != "saved"])
        here = "/review" + (f"?{kept}" if kept else "")
        return _page(request, "queue.html", key=key, items=items, next_link=next_link,
                     first_page=cursor is None, here=here, saved=request.query_params.get("saved"))

    @router.get("/items/{submission_id}")
    async def item(request: Request, submission_id: str) -> Response:
        try:
            key = await reviewer(request)
        except _LoginNeeded:
            return to_login(request)
        view = await state.run_db(_read_item, state, submission_id)
        if view is None:
            return _page(request, "message.html", 404, key=key, title="Not found",
                         message=f"No verdict for submission {submission_id!r}.")
        return _page(request, "item.html", key=key, item=view, error=None,
                     here=f"/review/items/{view['quoted_id']}",
                     saved=request.query_params.get("saved"))

    @router.get("/items/{submission_id}/annotated.png")
    async def annotated(request: Request, submission_id: str) -> Response:
        try:
            await reviewer(request)
        except _LoginNeeded:
            return Response(status_code=401, headers=PAGE_HEADERS)
        data = await state.run_db(_annotated_png, state, submission_id)
        return Response(data, media_type="image/png",
                        headers={**PAGE_HEADERS, "Cache-Control": "private, max-age=60"})

    @router.post("/items/{submission_id}/decision")
    async def decide(
        request: Request,
        submission_id: str,
        action: Annotated[ReviewAction, Form()],
        csrf: Annotated[str, Form(max_length=200)],
        decision: Annotated[Decision | None, Form()] = None,
        note: Annotated[str | None, Form(max_length=10_000)] = None,
        next: Annotated[str | None, Form(max_length=2000)] = None,
    ) -> Response:
        if not _csrf_ok(request, csrf):  # first: a forged form does nothing, whosever cookie
            try:
                return form_expired(request, await reviewer(request))
            except _LoginNeeded:
                return form_expired(request, None)
        try:
            key = await reviewer(request)
        except _LoginNeeded:
            return to_login(request)
        chosen = decision if action is ReviewAction.OVERRIDE else None
        text = (note or "").strip() or None

        def add() -> str | None:
            if text is not None and (why := text_problem(text)) is not None:
                return f"The note {why}."
            try:
                record_decision(state, submission_id, key.name, action, chosen, text)
            except (InvalidRecord, NotFound) as exc:
                return public_message(exc)
            return None

        problem = await state.run_db(add)
        if problem is not None:
            view = await state.run_db(_read_item, state, submission_id)
            if view is None:
                return _page(request, "message.html", 404, key=key, title="Not found",
                             message=problem)
            return _page(request, "item.html", 422, key=key, item=view, error=problem,
                         here=f"/review/items/{view['quoted_id']}", saved=None)
        target = _safe_next(next)
        joiner = "&" if "?" in target else "?"
        return _redirect(f"{target}{joiner}saved={quote(submission_id, safe='')}")

    return router


def _read_item(state: ApiState, submission_id: str) -> dict[str, Any] | None:
    store = state.store()
    current = store.current_verdict(submission_id)
    if current is None:
        return None
    return _item_view(current, store.reviews(submission_id))


__all__ = ["CSRF_COOKIE", "KEY_COOKIE", "PAGE_ROLES", "SESSION_COOKIE", "review_router"]
