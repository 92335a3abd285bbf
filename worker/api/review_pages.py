"""The reviewer console under ``/review``: server-rendered HTML, no front-end build, no
CDN: its stylesheet and script are served by the app (``/review/static/``).

- ``GET /review/login``, ``POST /review/login``: the API key is given once; a reviewer or
  admin key then opens a server-side session (``worker.db.sessions``): the cookie holds
  a random session id, never the key, is HttpOnly, SameSite=Strict, scoped to
  ``/review``, lasts ``settings.review_session_minutes`` and is ``Secure`` when the
  request came over HTTPS (``X-Forwarded-Proto`` counts from ``settings.trusted_proxies``).
- ``GET /review``: a list of current verdicts in keyset pages (``?cursor=``, the sort
  key of the last row), with counts by decision and category. ``?view=`` picks the list
  (``worker.api.console.VIEWS``): ``queue`` (the default: ``review``/``reject`` verdicts
  no reviewer has decided about, by priority and oldest first, identical images once,
  others' claims skipped), ``done``, ``errors``, ``all`` (newest first); ``q``,
  ``decision``, ``effective``, ``category``, ``rule`` (a prefix), ``industry``,
  ``reviewer``, ``ad_id`` and ``since`` narrow it; a value that cannot be used is shown
  beside the filters. ``GET /review/export.csv`` is the list as CSV.
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

Keys (``static/console.js``): ``j``/``k`` next/previous, ``x`` select for a batch,
``a`` confirm (pass or reject verdicts only), ``p`` pass, ``r`` reject, ``n`` the note,
``u`` back to the list, ``?`` the list of keys.

Between reviewers: opening an item claims it (``Store.claim``, renewed by the page
while it is open); other reviewers' queues skip it and its page says who has it. A
decision names the latest review the page showed (``base_review``); one that landed
meanwhile is shown instead of being overwritten. Identical images judged by the same
rule set are one queue entry decided together. ``POST /review/decisions`` decides the
selected items; ``POST /review/items/{id}/undo`` takes back one's own latest decision
for ``UNDO_MINUTES``. The pages speak Chinese unless the ``adreview_lang`` cookie says
``en`` (``GET /review/lang``).

Every form carries a CSRF token checked against a cookie of the same value (double
submit), before anything else is looked at; the cookies are SameSite=Strict as well.
Error pages never show storage details. The pages are not in the OpenAPI schema.
"""

from __future__ import annotations

import hmac
import io
import secrets
from dataclasses import replace
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
    VIEWS,
    BadFilter,
    ConsoleFilter,
    console_filter,
    first_in,
    frame_png,
    image_info,
    item_view,
    neighbours,
    position,
    shown_metadata,
    title_of,
)
from worker.api.decisions import decide_with_duplicates, record_decision, undo_decision
from worker.api.errors import public_message
from worker.api.i18n import LANG_COOKIE, LANGS, pick_lang, words
from worker.api.images import image_problem
from worker.api.inputs import text_problem
from worker.api.queries import (
    BadCursor,
    duplicate_counts,
    order_columns,
    ordered_page,
    verdict_stats,
    verdicts_csv,
)
from worker.api.state import ApiProblem, ApiState
from worker.db import (
    DecisionConflict,
    InvalidRecord,
    NotFound,
    StorageError,
    StoredSubmission,
    StoredVerdict,
)
from worker.db.keys import StoredKey
from worker.db.models import ApiRole, ReviewAction, utcnow
from worker.db.store import UNSEEN
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
#: Roles that may open the rule statistics page.
RULES_PAGE_ROLES = PAGE_ROLES | {ApiRole.RULE_EDITOR}
#: How long opening an item claims it (the page renews it every minute while open).
CLAIM_LEASE = timedelta(minutes=3)
#: How long a reviewer may take back their latest decision.
UNDO_MINUTES = 10
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


class _RulesOnly(_LoginNeeded):
    """A rule editor's session on a reviewers' page: the rule statistics open instead."""


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
    """Render ``template`` with the CSRF token and the reader's language; sets the CSRF
    cookie when it is new."""
    token, new = _csrf_token(request)
    lang = pick_lang(request.cookies.get(LANG_COOKIE))
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    context.setdefault("key", None)
    html = TEMPLATES.get_template(template).render(
        csrf=token, lang=lang, html_lang=LANGS[lang], t=words(lang), here=here, **context)
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


def _stale(state: ApiState, ruleset: Any, verdict: StoredVerdict) -> bool:
    return ruleset is not None and verdict.decision is not Decision.ERROR \
        and verdict.verdict.ruleset != ruleset.version


def _read_item(state: ApiState, submission_id: str, filters: ConsoleFilter,
               reviewer: str | None = None) -> dict[str, Any] | None:
    """The item view with its neighbours in the reviewer's list; opening it claims it
    for ``reviewer`` (when nobody else holds it)."""
    store = state.store()
    current = store.current_verdict(submission_id)
    if current is None:
        return None
    try:
        size, frames = image_info(_submission_image(state, submission_id), state.settings)
    except (ApiProblem, AdreviewError):
        size, frames = None, 0
    ruleset = _ruleset(state)
    reviews = store.reviews(submission_id)
    view = item_view(current, reviews, ruleset, size)
    sub = store.get_submission(submission_id)
    metadata = None if sub is None else sub.metadata
    view["image_ok"] = size is not None
    view["frame_count"] = frames
    view["title"] = title_of(current.ad_id, current.source, metadata, current.submission)
    view["shown_metadata"] = shown_metadata(metadata)
    view["submitter"] = _submitter(state, sub)
    view["stale"] = _stale(state, ruleset, current)
    view["base_review"] = reviews[-1].id if reviews else None
    view["copies"] = 0 if current.reviewed else len(store.duplicates(submission_id))
    claim = store.claim_of(submission_id)
    if reviewer is not None and not current.reviewed and \
            current.decision in (Decision.REVIEW, Decision.REJECT):
        claim = store.claim(submission_id, reviewer, CLAIM_LEASE)
    view["claim"] = None if claim is None else {
        "reviewer": claim.reviewer, "until": claim.expires.strftime("%H:%M:%S UTC")}
    before, after = neighbours(store, filters.where, current.id)
    view["place"], view["total"] = position(store, filters.where, current.id)
    view["prev_link"] = None if before is None else _item_link(before, filters)
    view["next_link"] = None if after is None else _item_link(after, filters)
    return view


def _submitter(state: ApiState, sub: StoredSubmission | None) -> str | None:
    if sub is None or sub.api_key_id is None:
        return None if sub is None else sub.source.split(":", 1)[0]
    found = [k for k in state.keys().list() if k.id == sub.api_key_id]
    return found[0].name if found else f"key {sub.api_key_id}"


def _list_item(state: ApiState, verdict: StoredVerdict, ruleset: Any,
               copies: dict[int, int]) -> dict[str, Any]:
    view = item_view(verdict, [], ruleset, None)
    view["title"] = title_of(verdict.ad_id, verdict.source, None, verdict.submission)
    view["copies"] = copies.get(verdict.id, 1)
    view["stale"] = _stale(state, ruleset, verdict)
    view["submitter"] = None
    review = verdict.review
    view["latest_review"] = None if review is None else {
        "reviewer": review.reviewer, "decision": review.decision.value, "note": review.note,
        "created": review.created.strftime("%Y-%m-%d %H:%M")}
    return view


def encode_key(key: tuple[Any, ...]) -> str:
    """A console page cursor: the sort key of the last row shown."""
    return "k" + ".".join(str(int(v)) if float(v) == int(v) else str(v) for v in key)


def decode_key(cursor: str, length: int) -> tuple[Any, ...]:
    """Inverse of ``encode_key``; ``BadCursor`` for anything else."""
    parts = cursor[1:].split(".") if cursor.startswith("k") and len(cursor) < 80 else []
    try:
        values = tuple(int(p) for p in parts)
    except ValueError:
        raise BadCursor(f"{cursor[:80]!r} is not a cursor of these pages") from None
    if len(values) != length or any(abs(v) > 2**62 for v in values):
        raise BadCursor(f"{cursor[:80]!r} is not a cursor of these pages")
    return values


def _read_list(state: ApiState, filters: ConsoleFilter, limit: int,
               after: tuple[Any, ...] | None) -> dict[str, Any]:
    store = state.store()
    ruleset = _ruleset(state)
    found, next_key = ordered_page(store, filters.where, limit, after)
    copies = duplicate_counts(store, found) if filters.where.group_duplicates else {}
    items = [_list_item(state, v, ruleset, copies) for v in found]
    counts = verdict_stats(store, filters.where, reviewers=False)
    industries = [] if ruleset is None else [
        {"id": i.id, "name": i.name} for i in ruleset.industries.values()]
    categories = [] if ruleset is None else [
        {"id": c.id, "name": c.name} for c in ruleset.categories.values()]
    return {"items": items, "next_key": next_key, "counts": counts, "industries": industries,
            "categories": categories,
            "category_names": {c["id"]: c["name"] for c in categories}}


def _saved_item(state: ApiState, submission_id: str | None,
                reviewer: str) -> dict[str, Any] | None:
    """What the message after a decision names: the ad's title, its decision, whether
    the reviewer may still undo it."""
    if not submission_id or len(submission_id) > 64:
        return None
    store = state.store()
    current = store.current_verdict(submission_id)
    if current is None or current.review is None:
        return None
    review = current.review
    fresh = utcnow() - review.created < timedelta(minutes=UNDO_MINUTES)
    return {"title": title_of(current.ad_id, current.source, None, current.submission),
            "decision": review.decision.value, "quoted_id": quote(submission_id, safe=""),
            "undo": review.reviewer == reviewer and fresh}


def rejudge(state: ApiState, submission_id: str, actor: str) -> bool:
    """Judge the submission again with the current rule set from its stored OCR lines
    (no OCR); False when its lines are not stored."""
    from worker.pipeline import judge_lines
    from worker.verdict import Verdict

    store = state.store()
    ruleset = state.ruleset()
    current = store.current_verdict(submission_id)
    if current is None or current.sha256 is None:
        return False
    old = current.verdict
    lines = store.get_ocr(current.sha256, old.engine, old.engine_version)
    if lines is None:
        return False
    judged = judge_lines(lines, ruleset, state.settings.min_match_confidence, old.industry)
    store.save_ruleset(ruleset)
    store.record_verdict(submission_id, Verdict(
        judged.decision, judged.evidence, ruleset.version, old.engine, old.engine_version,
        old.sha256, timings={"ocr_cached": 1.0}, industry=old.industry))
    store.audit(actor, "rejudge", submission_id,
                {"from": old.ruleset, "to": ruleset.version, "decision": judged.decision.value})
    return True


def review_router(state: ApiState) -> APIRouter:
    """The ``/review`` pages of an app whose shared resources are ``state``."""
    router = APIRouter(prefix="/review", include_in_schema=False)

    async def reviewer(request: Request, allowed: frozenset[ApiRole] = PAGE_ROLES
                       ) -> StoredKey:
        given = request.cookies.get(SESSION_COOKIE)
        if not given or len(given) > MAX_SESSION_LENGTH:
            raise _LoginNeeded
        key = await state.run_db(lambda: state.sessions().lookup(given))
        if key is None or key.role not in RULES_PAGE_ROLES:
            raise _LoginNeeded
        if key.role not in allowed:
            raise _RulesOnly
        return key

    def to_login(request: Request, reason: _LoginNeeded | None = None) -> RedirectResponse:
        if isinstance(reason, _RulesOnly):
            return _redirect("/review/rules")
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
        if found.role not in RULES_PAGE_ROLES:
            return _page(request, "login.html", 403, next=target,
                         error=f"This key's role ({found.role.value}) may not review; "
                               "a reviewer, rule-editor or admin key is needed.")
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

    @router.get("/lang")
    async def lang(request: Request, to: str = "zh", next: str | None = None) -> Response:
        response = _redirect(_safe_next(next))
        response.set_cookie(LANG_COOKIE, pick_lang(to), path="/review", samesite="strict",
                            secure=_secure(request), max_age=365 * 86400)
        return response

    def read_filters(request: Request, key: StoredKey) -> tuple[ConsoleFilter, str | None]:
        """The page's filters for ``key`` (claims of others skipped in the queue); an
        unusable value leaves the view's plain list and the problem to show inline."""
        problem = None
        try:
            filters = console_filter(request.query_params)
        except BadFilter as exc:
            problem = str(exc)
            view = request.query_params.get("view", "queue")
            filters = console_filter({"view": view if view in VIEWS else "queue"})
        if filters.view == "queue":
            filters = replace(filters, where=replace(filters.where, unclaimed_for=key.name))
        return filters, problem

    @router.get("")
    async def queue(
        request: Request,
        cursor: Annotated[str | None, Query(max_length=100)] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = PAGE_SIZE,
        saved: Annotated[str | None, Query(max_length=64)] = None,
        notice: Annotated[str | None, Query(max_length=200)] = None,
    ) -> Response:
        try:
            key = await reviewer(request)
        except _LoginNeeded as exc:
            return to_login(request, exc)
        filters, problem = read_filters(request, key)
        after = None
        if cursor is not None and problem is None:
            try:
                after = decode_key(cursor, len(order_columns(filters.where, "sqlite")))
            except BadCursor as exc:
                problem = str(exc)
        found = await state.run_db(_read_list, state, filters, limit, after)
        next_link = None
        if found["next_key"] is not None:
            next_link = _with("/review", filters.query, limit=str(limit),
                              cursor=encode_key(found["next_key"]))
        for item in found["items"]:
            item["link"] = _item_link(item["id"], filters)
        saved_item = await state.run_db(_saved_item, state, saved, key.name)
        t = words(pick_lang(request.cookies.get(LANG_COOKIE)))
        shown_notice = None
        if notice and notice.startswith("batch:"):
            done, _, bad = notice[6:].partition(":")
            shown_notice = t("batch_done", n=done, bad=bad or "0")
        elif notice in ("undone", "requeued"):
            shown_notice = t(notice, what=saved or "")
        return _page(request, "queue.html", 422 if problem else 200, key=key,
                     filters=filters, view=filters.view, first_page=cursor is None,
                     next_link=next_link, saved_item=saved_item, notice=shown_notice,
                     bad_filter=problem, is_admin=key.role is ApiRole.ADMIN, **found)

    @router.get("/export.csv")
    async def export(request: Request) -> Response:
        try:
            key = await reviewer(request)
        except _LoginNeeded as exc:
            return to_login(request, exc)
        filters, problem = read_filters(request, key)
        if problem is not None:
            return _page(request, "message.html", 422, key=key, title="CSV", message=problem)
        where = replace(filters.where, group_duplicates=False, unclaimed_for=None)
        body = await state.run_db(verdicts_csv, state.store(), where)
        return Response(body, media_type="text/csv; charset=utf-8", headers={
            **PAGE_HEADERS, "Content-Disposition": 'attachment; filename="verdicts.csv"'})

    @router.get("/rules")
    async def rules_page(request: Request, since: str | None = None) -> Response:
        try:
            key = await reviewer(request, RULES_PAGE_ROLES)
        except _LoginNeeded as exc:
            return to_login(request, exc)
        from worker.rule_stats import rule_stats

        try:
            start = None if not since else parse_time_or_age(since.strip())
        except ValueError as exc:
            return _page(request, "message.html", 422, key=key, title="Bad link",
                         message=f"since: {exc}")
        ruleset = _ruleset(state)
        data = await state.run_db(
            lambda: rule_stats(state.store(), ruleset, since=start).to_dict())
        names = {} if ruleset is None else {c.id: c.name for c in ruleset.categories.values()}
        return _page(request, "rules.html", key=key, view="rules", stats=data,
                     since=since or "", category_names=names,
                     reviewer_pages=key.role in PAGE_ROLES)

    @router.get("/items/{submission_id}")
    async def item(
        request: Request, submission_id: str,
        saved: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        try:
            key = await reviewer(request)
        except _LoginNeeded as exc:
            return to_login(request, exc)
        filters, problem = read_filters(request, key)
        if problem is not None:
            return _page(request, "message.html", 422, key=key, title="Bad link",
                         message=problem)
        view = await state.run_db(_read_item, state, submission_id, filters, key.name)
        if view is None:
            return _page(request, "message.html", 404, key=key, title="Not found",
                         message=f"No verdict for submission {submission_id!r}.")
        saved_item = await state.run_db(_saved_item, state, saved, key.name)
        return _page(request, "item.html", key=key, item=view, error=None, filters=filters,
                     view=filters.view, saved_item=saved_item, conflict=False)

    @router.post("/items/{submission_id}/claim")
    async def renew_claim(request: Request, submission_id: str,
                          csrf: Annotated[str, Form(max_length=200)]) -> Response:
        if not _csrf_ok(request, csrf):
            return Response(status_code=403, headers=PAGE_HEADERS)
        try:
            key = await reviewer(request)
        except _LoginNeeded:
            return Response(status_code=401, headers=PAGE_HEADERS)

        def renew() -> str | None:
            store = state.store()
            current = store.current_verdict(submission_id)
            if current is None or current.reviewed:
                return None
            return store.claim(submission_id, key.name, CLAIM_LEASE).reviewer

        holder = await state.run_db(renew)
        return Response(holder or "", media_type="text/plain; charset=utf-8",
                        headers=PAGE_HEADERS)

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

    async def form_guard(request: Request) -> StoredKey | Response:
        """The key of a page form's sender, or the answer when the form is forged or
        nobody is signed in."""
        form = await request.form()
        if not _csrf_ok(request, str(form.get("csrf", ""))):
            try:
                return form_expired(request, await reviewer(request))
            except _LoginNeeded:
                return form_expired(request, None)
        try:
            return await reviewer(request)
        except _LoginNeeded as exc:
            return to_login(request, exc)

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
        base_review: Annotated[str | None, Form(max_length=20)] = None,
        duplicates: Annotated[str | None, Form(max_length=8)] = None,
    ) -> Response:
        guard = await form_guard(request)
        if isinstance(guard, Response):
            return guard
        key = guard
        try:
            filters = console_filter(dict(parse_qsl(filters_query or "")))
        except BadFilter as exc:
            return _page(request, "message.html", 422, key=key, title="Bad form",
                         message=str(exc))
        text = (note or "").strip() or None
        t = words(pick_lang(request.cookies.get(LANG_COOKIE)))
        base: Any = UNSEEN  # a form without the field (an older page) checks nothing
        if base_review is not None:  # "none": the page showed no decision
            base = int(base_review) if base_review.strip().isdigit() else None

        def add() -> tuple[str | None, bool, str | None]:
            if text is not None and (why := text_problem(text)) is not None:
                return f"The note {why}.", False, None
            store = state.store()
            current = store.current_verdict(submission_id)
            if current is None:
                return f"No verdict for submission {submission_id!r}.", False, None
            act, chosen = action, decision
            if choice is not None:  # the console's buttons: pass, reject (or confirm)
                if choice == "confirm":
                    act, chosen = ReviewAction.CONFIRM, None
                else:
                    try:
                        act, chosen = None, Decision(choice)
                    except ValueError:
                        return f"Unknown choice {choice!r}.", False, None
            if act is None and chosen is None:
                return "Choose pass or reject.", False, None
            try:
                if duplicates:
                    decide_with_duplicates(state, submission_id, key.name, act, chosen, text,
                                           base)
                else:
                    record_decision(state, submission_id, key.name, act, chosen, text, base)
            except DecisionConflict as exc:
                latest = exc.latest
                return t("conflict", who=getattr(latest, "reviewer", "?"),
                         when=getattr(latest, "created", utcnow()).strftime("%H:%M:%S"),
                         decision=t("d_" + getattr(getattr(latest, "decision", None),
                                                   "value", "review"))), True, None
            except (InvalidRecord, NotFound) as exc:
                return public_message(exc), False, None
            key_now = sort_key_of(store, filters, current.id)
            upcoming = first_in(store, queue_for(filters), after=key_now) or first_in(
                store, queue_for(filters))
            return None, False, upcoming

        def queue_for(filters: ConsoleFilter) -> Any:
            if filters.view == "queue":
                return replace(filters.where, unclaimed_for=key.name)
            return filters.where

        problem, conflict, upcoming = await state.run_db(add)
        if problem is not None:
            view = await state.run_db(_read_item, state, submission_id, filters, key.name)
            if view is None:
                return _page(request, "message.html", 404, key=key, title="Not found",
                             message=problem)
            return _page(request, "item.html", 409 if conflict else 422, key=key, item=view,
                         error=problem, filters=filters, view=filters.view, saved_item=None,
                         conflict=conflict)
        if next:
            target = _safe_next(next)
            joiner = "&" if "?" in target else "?"
            return _redirect(f"{target}{joiner}saved={quote(submission_id, safe='')}")
        if upcoming is not None and upcoming != submission_id:
            return _redirect(_with(f"/review/items/{quote(upcoming, safe='')}",
                                   filters.query, saved=submission_id))
        return _redirect(_with("/review", filters.query, saved=submission_id))

    @router.post("/decisions")
    async def decide_batch(
        request: Request,
        csrf: Annotated[str, Form(max_length=200)],
        choice: Annotated[str, Form(max_length=16)],
        ids: Annotated[list[str] | None, Form(max_length=MAX_PAGE_SIZE)] = None,
        filters_query: Annotated[str | None, Form(alias="filters", max_length=2000)] = None,
    ) -> Response:
        guard = await form_guard(request)
        if isinstance(guard, Response):
            return guard
        key = guard
        if choice not in ("pass", "reject"):
            return _page(request, "message.html", 422, key=key, title="Bad form",
                         message=f"Unknown choice {choice!r}.")
        chosen = Decision(choice)

        def run() -> tuple[int, int]:
            done = bad = 0
            for ident in dict.fromkeys(i[:64] for i in ids or ()):
                try:
                    decide_with_duplicates(state, ident, key.name, None, chosen, None, None)
                    done += 1
                except StorageError:
                    bad += 1
            return done, bad

        done, bad = await state.run_db(run)
        query = filters_query or ""
        return _redirect(_with("/review", query, notice=f"batch:{done}:{bad}"))

    @router.post("/items/{submission_id}/undo")
    async def undo(
        request: Request, submission_id: str,
        csrf: Annotated[str, Form(max_length=200)],
        filters_query: Annotated[str | None, Form(alias="filters", max_length=2000)] = None,
    ) -> Response:
        guard = await form_guard(request)
        if isinstance(guard, Response):
            return guard
        key = guard
        taken = await state.run_db(undo_decision, state, submission_id, key.name,
                                   timedelta(minutes=UNDO_MINUTES))
        if taken is None:
            t = words(pick_lang(request.cookies.get(LANG_COOKIE)))
            return _page(request, "message.html", 409, key=key, title=t("undo"),
                         message=t("cannot_undo", m=UNDO_MINUTES))
        return _redirect(_with(f"/review/items/{quote(submission_id, safe='')}",
                               filters_query or ""))

    @router.post("/items/{submission_id}/rejudge")
    async def rejudge_item(
        request: Request, submission_id: str,
        csrf: Annotated[str, Form(max_length=200)],
        filters_query: Annotated[str | None, Form(alias="filters", max_length=2000)] = None,
    ) -> Response:
        guard = await form_guard(request)
        if isinstance(guard, Response):
            return guard
        key = guard
        try:
            judged = await state.run_db(rejudge, state, submission_id, key.name)
        except AdreviewError as exc:
            return _page(request, "message.html", 409, key=key, title="Re-judge",
                         message=str(exc))
        if not judged:
            return _page(request, "message.html", 409, key=key, title="Re-judge",
                         message="The OCR text of this image is not stored; submit it again "
                                 "to judge it with the current rules.")
        return _redirect(_with(f"/review/items/{quote(submission_id, safe='')}",
                               filters_query or ""))

    return router


def sort_key_of(store: Any, filters: ConsoleFilter, verdict_id: int) -> tuple[Any, ...] | None:
    """The verdict's place in the list's order (what "the next item" follows)."""
    from worker.api.queries import sort_key

    return sort_key(store, filters.where, verdict_id)


__all__ = ["CSRF_COOKIE", "KEY_COOKIE", "PAGE_ROLES", "RULES_PAGE_ROLES", "SESSION_COOKIE",
           "review_router"]
