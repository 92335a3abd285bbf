"""The reviewer console under ``/review``: server-rendered HTML, no front-end build, no
CDN: its stylesheet and script are served by the app (``/review/static/``).

- ``GET /review/login``, ``POST /review/login``: the API key is given once; a reviewer or
  admin key then opens a server-side session (``worker.db.sessions``): the cookie holds
  a random session id, never the key, is HttpOnly, SameSite=Strict, scoped to
  ``/review``, lasts ``settings.review_session_minutes`` and is ``Secure`` when the
  request came over HTTPS (``X-Forwarded-Proto`` counts from ``settings.trusted_proxies``).
- ``GET /review``: a list of current verdicts, newest first, in keyset pages
  (``?cursor=``), with counts by decision and category. ``?view=`` picks the list
  (``worker.api.console.VIEWS``): ``queue`` (the default: ``review``/``reject`` verdicts
  no reviewer has decided about), ``done``, ``errors``, ``all``; ``decision``,
  ``category``, ``rule``, ``industry``, ``ad_id`` and ``since`` narrow it.
- ``GET /review/items/{id}``: one item, large, with numbered evidence boxes, the matched
  text in its OCR line, the rule's description and legal reference, and the decision
  buttons; previous and next follow the list the reviewer came from.
  ``GET /review/items/{id}/frame.png?frame=N`` its image (frame ``N`` of an animation),
  ``GET /review/items/{id}/annotated.png`` the image with the evidence drawn.
- ``POST /review/items/{id}/decision``: confirm or override (``worker.api.decisions``:
  the machine verdict is never changed), then the next item of the list opens.
- ``GET /review/rules``: the feedback loop for rule editors (``worker.rule_stats``): per
  rule and phrase, hits, confirmed, overridden, precision, the commonest text around
  overridden hits and the suggested exception.
- ``POST /review/logout``: the session ends on the server (the cookie no longer works,
  wherever a copy of it is).

Keys (``static/console.js``): ``j``/``k`` next/previous, ``a`` confirm, ``p`` pass,
``r`` reject, ``n`` the note, ``?`` the list of keys.

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
from urllib.parse import parse_qsl, quote, urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader

from rules.schema import Decision
from worker.api.auth import client_address
from worker.api.console import (
    BadFilter,
    ConsoleFilter,
    console_filter,
    first_in,
    frame_png,
    image_size,
    item_view,
    neighbours,
    position,
)
from worker.api.decisions import record_decision
from worker.api.errors import public_message
from worker.api.images import image_problem
from worker.api.inputs import text_problem
from worker.api.queries import (
    BadCursor,
    decode_cursor,
    encode_cursor,
    list_verdicts,
    verdict_stats,
)
from worker.api.state import ApiProblem, ApiState
from worker.db import InvalidRecord, NotFound, StoredVerdict
from worker.db.keys import StoredKey
from worker.db.models import ApiRole, ReviewAction
from worker.errors import AdreviewError, ImageError
from worker.settings import Settings
from worker.times import parse_time_or_age

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
#: The console's stylesheet and script, served under ``/review/static/``.
STATIC = Path(__file__).parent / "static"
STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8"}
#: Headers of every page: no framing, no caching, only this origin's resources.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; img-src 'self'; script-src 'self'; "
                               "style-src 'self' 'unsafe-inline'; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
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


def _with(path: str, query: str, **extra: str) -> str:
    """``path`` with the filter ``query`` and ``extra`` parameters."""
    parts = [q for q in (query, urlencode(extra)) if q]
    return path + ("?" + "&".join(parts) if parts else "")


def _item_link(submission_id: str, filters: ConsoleFilter) -> str:
    return _with(f"/review/items/{quote(submission_id, safe='')}", filters.query)


def _submission_image(state: ApiState, submission_id: str) -> bytes:
    from worker.api.images import stored_image

    sub = state.store().get_submission(submission_id)
    if sub is None:
        raise ApiProblem(404, "not_found", f"no submission {submission_id!r}")
    return stored_image(sub, state.settings, state.store())


def _annotation_input(state: ApiState, submission_id: str) -> tuple[bytes, StoredVerdict]:
    """The submission's image and current verdict (read from the database)."""
    data = _submission_image(state, submission_id)
    current = state.store().current_verdict(submission_id)
    if current is None:
        raise ApiProblem(409, "no_verdict", f"submission {submission_id} has no verdict yet")
    return data, current


def _annotated_png(data: bytes, current: StoredVerdict, settings: Settings) -> bytes:
    """The image with the verdict's matches drawn (PNG bytes), decoded as the worker
    decodes it; an image it cannot decode within the limits is 422."""
    from worker.annotate import annotate

    out = io.BytesIO()
    try:
        annotate(data, current.verdict.matches, settings).save(out, format="PNG")
    except ImageError as exc:
        raise image_problem(exc) from None
    return out.getvalue()


def _frame_png(data: bytes, frame: int, settings: Settings) -> bytes:
    try:
        return frame_png(data, frame, settings)
    except ImageError as exc:
        raise image_problem(exc) from None
    except ValueError as exc:
        raise ApiProblem(404, "not_found", str(exc)) from None


def _ruleset(state: ApiState) -> Any:
    try:
        return state.ruleset()
    except AdreviewError:
        return None


def _read_item(state: ApiState, submission_id: str,
               filters: ConsoleFilter) -> dict[str, Any] | None:
    """The item view with its neighbours in the reviewer's list."""
    store = state.store()
    current = store.current_verdict(submission_id)
    if current is None:
        return None
    try:
        size = image_size(_submission_image(state, submission_id), state.settings)
    except (ApiProblem, AdreviewError):
        size = None
    view = item_view(current, store.reviews(submission_id), _ruleset(state), size)
    view["image_ok"] = size is not None
    before, after = neighbours(store, filters.where, current.id)
    view["place"], view["total"] = position(store, filters.where, current.id)
    view["prev_link"] = None if before is None else _item_link(before, filters)
    view["next_link"] = None if after is None else _item_link(after, filters)
    return view


def _read_list(state: ApiState, filters: ConsoleFilter, limit: int,
               before: int | None) -> dict[str, Any]:
    store = state.store()
    ruleset = _ruleset(state)
    found, next_id = list_verdicts(store, filters.where, limit, before)
    items = [item_view(v, [], ruleset, None) for v in found]
    counts = verdict_stats(store, filters.where, reviewers=False)
    industries = [] if ruleset is None else [
        {"id": i.id, "name": i.name} for i in ruleset.industries.values()]
    return {"items": items, "next_id": next_id, "counts": counts, "industries": industries,
            "categories": [] if ruleset is None else [
                {"id": c.id, "name": c.name} for c in ruleset.categories.values()]}


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
        address = client_address(request)
        wait = state.throttle.retry_after(address)
        if wait:
            page = _page(request, "login.html", 429, next=target,
                         error=f"Too many failed sign-ins; try again in {wait} s.")
            page.headers["Retry-After"] = str(wait)
            return page
        found = await state.run_db(lambda: state.keys().authenticate(key.strip()))
        if found is None:
            state.throttle.failed(address)
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

    @router.get("/static/{name}")
    async def static(name: str) -> Response:
        path = STATIC / name
        kind = STATIC_TYPES.get(path.suffix)
        if kind is None or "/" in name or name.startswith(".") or not path.is_file():
            return Response(status_code=404)
        return Response(path.read_bytes(), media_type=kind,
                        headers={"Cache-Control": "public, max-age=300",
                                 "X-Content-Type-Options": "nosniff"})

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
            filters = console_filter(request.query_params)
            before = None if cursor is None else decode_cursor(cursor)
        except (BadCursor, BadFilter) as exc:
            return _page(request, "message.html", 422, key=key, title="Bad link",
                         message=str(exc))
        found = await state.run_db(_read_list, state, filters, limit, before)
        next_link = None
        if found["next_id"] is not None:
            next_link = _with("/review", filters.query, limit=str(limit),
                              cursor=encode_cursor(found["next_id"]))
        for item in found["items"]:
            item["link"] = _item_link(item["id"], filters)
        return _page(request, "queue.html", key=key, filters=filters, view=filters.view,
                     first_page=cursor is None, next_link=next_link,
                     saved=request.query_params.get("saved"), **found)

    @router.get("/rules")
    async def rules_page(request: Request, since: str | None = None) -> Response:
        try:
            key = await reviewer(request)
        except _LoginNeeded:
            return to_login(request)
        from worker.rule_stats import rule_stats

        try:
            start = None if not since else parse_time_or_age(since.strip())
        except ValueError as exc:
            return _page(request, "message.html", 422, key=key, title="Bad link",
                         message=f"since: {exc}")
        ruleset = _ruleset(state)
        data = await state.run_db(
            lambda: rule_stats(state.store(), ruleset, since=start).to_dict())
        return _page(request, "rules.html", key=key, view="rules", stats=data,
                     since=since or "")

    @router.get("/items/{submission_id}")
    async def item(request: Request, submission_id: str) -> Response:
        try:
            key = await reviewer(request)
        except _LoginNeeded:
            return to_login(request)
        try:
            filters = console_filter(request.query_params)
        except BadFilter as exc:
            return _page(request, "message.html", 422, key=key, title="Bad link",
                         message=str(exc))
        view = await state.run_db(_read_item, state, submission_id, filters)
        if view is None:
            return _page(request, "message.html", 404, key=key, title="Not found",
                         message=f"No verdict for submission {submission_id!r}.")
        return _page(request, "item.html", key=key, item=view, error=None, filters=filters,
                     view=filters.view, saved=request.query_params.get("saved"))

    @router.get("/items/{submission_id}/annotated.png")
    async def annotated(request: Request, submission_id: str) -> Response:
        try:
            await reviewer(request)
        except _LoginNeeded:
            return Response(status_code=401, headers=PAGE_HEADERS)
        image, current = await state.run_db(_annotation_input, state, submission_id)
        data = await state.run_cpu(_annotated_png, image, current, state.settings)
        return Response(data, media_type="image/png",
                        headers={**PAGE_HEADERS, "Cache-Control": "private, max-age=60"})

    @router.get("/items/{submission_id}/frame.png")
    async def frame(request: Request, submission_id: str,
                    frame: Annotated[int, Query(ge=0, le=10_000)] = 0) -> Response:
        try:
            await reviewer(request)
        except _LoginNeeded:
            return Response(status_code=401, headers=PAGE_HEADERS)
        data = await state.run_db(_submission_image, state, submission_id)
        png = await state.run_cpu(_frame_png, data, frame, state.settings)
        return Response(png, media_type="image/png",
                        headers={**PAGE_HEADERS, "Cache-Control": "private, max-age=300"})

    @router.post("/items/{submission_id}/decision")
    async def decide(
        request: Request,
        submission_id: str,
        csrf: Annotated[str, Form(max_length=200)],
        action: Annotated[ReviewAction | None, Form()] = None,
        decision: Annotated[Decision | None, Form()] = None,
        choice: Annotated[str | None, Form(max_length=16)] = None,
        note: Annotated[str | None, Form(max_length=10_000)] = None,
        next: Annotated[str | None, Form(max_length=2000)] = None,
        filters_query: Annotated[str | None, Form(alias="filters", max_length=2000)] = None,
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
        try:
            filters = console_filter(dict(parse_qsl(filters_query or "")))
        except BadFilter as exc:
            return _page(request, "message.html", 422, key=key, title="Bad form",
                         message=str(exc))
        text = (note or "").strip() or None

        def add() -> tuple[str | None, str | None]:
            if text is not None and (why := text_problem(text)) is not None:
                return f"The note {why}.", None
            store = state.store()
            current = store.current_verdict(submission_id)
            if current is None:
                return f"No verdict for submission {submission_id!r}.", None
            act, chosen = action, decision if action is ReviewAction.OVERRIDE else None
            if choice is not None:  # the console's buttons: confirm, pass, reject, review
                if choice == "confirm" or choice == current.decision.value:
                    act, chosen = ReviewAction.CONFIRM, None
                else:
                    try:
                        act, chosen = ReviewAction.OVERRIDE, Decision(choice)
                    except ValueError:
                        return f"Unknown choice {choice!r}.", None
            if act is None:
                return "Choose confirm or override.", None
            try:
                record_decision(state, submission_id, key.name, act, chosen, text)
            except (InvalidRecord, NotFound) as exc:
                return public_message(exc), None
            return None, first_in(store, filters.where, below=current.id) or first_in(
                store, filters.where)

        problem, upcoming = await state.run_db(add)
        if problem is not None:
            view = await state.run_db(_read_item, state, submission_id, filters)
            if view is None:
                return _page(request, "message.html", 404, key=key, title="Not found",
                             message=problem)
            return _page(request, "item.html", 422, key=key, item=view, error=problem,
                         filters=filters, view=filters.view, saved=None)
        saved = quote(submission_id, safe="")
        if next:
            target = _safe_next(next)
            joiner = "&" if "?" in target else "?"
            return _redirect(f"{target}{joiner}saved={saved}")
        if upcoming is not None and upcoming != submission_id:
            return _redirect(_with(f"/review/items/{quote(upcoming, safe='')}",
                                   filters.query, saved=submission_id))
        return _redirect(_with("/review", filters.query, saved=submission_id))

    return router


__all__ = ["CSRF_COOKIE", "KEY_COOKIE", "PAGE_ROLES", "SESSION_COOKIE", "review_router"]
