"""Dashboards: current verdicts, filtered and paged, and counts of them.

Both routes take the same filters. Every filter may be repeated to allow several values
(``decision=review&decision=reject``: either); different filters must all hold. ``since``
and ``until`` take what ``adreview verdicts --since`` takes: an ISO 8601 time (UTC when it
has no zone) or an age such as ``90m``, ``2h``, ``7d``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import StringConstraints

from rules.schema import Decision
from worker.api.deps import StateDep, roles
from worker.api.inputs import check_text
from worker.api.queries import (
    MAX_CURSOR_LENGTH,
    BadCursor,
    VerdictFilter,
    decode_cursor,
    encode_cursor,
    list_verdicts,
    verdict_stats,
    verdicts_csv,
)
from worker.api.schemas import StatsOut, VerdictPage
from worker.api.state import ApiProblem
from worker.db.keys import StoredKey
from worker.times import MAX_LENGTH as MAX_TIME_LENGTH
from worker.times import parse_time_or_age

router = APIRouter()

#: Values one filter may be given.
MAX_VALUES = 50
#: A filter value: an id or name of at most 255 characters.
Value = Annotated[str, StringConstraints(max_length=255)]
#: A repeatable filter.
Values = Annotated[list[Value] | None, Query(max_length=MAX_VALUES)]
#: A time filter.
Moment = Annotated[str | None, Query(max_length=MAX_TIME_LENGTH, examples=["2h"])]


def _values(name: str, given: list[str] | None) -> tuple[str, ...]:
    return tuple(dict.fromkeys(check_text(name, v) for v in given or ()))


def _moment(name: str, given: str | None) -> datetime | None:
    if given is None:
        return None
    try:
        return parse_time_or_age(check_text(name, given))
    except ValueError as exc:
        raise ApiProblem(422, "invalid_request", f"{name}: {exc}") from None


def verdict_filter(
    decision: Annotated[list[Decision] | None, Query(
        max_length=MAX_VALUES, description="Repeat for any of several.")] = None,
    category: Annotated[Values, Query(description="A matched category; repeatable.")] = None,
    rule: Annotated[Values, Query(description="A matched rule id, or a prefix of ids "
                                  "(`absolute` keeps `absolute.*`); repeatable.")] = None,
    ad_id: Annotated[Values, Query(description="An external ad id; repeatable.")] = None,
    industry: Annotated[Values, Query(
        description="Judged as this industry; repeatable.")] = None,
    since: Annotated[Moment, Query(
        description="Judged at or after: an ISO time or an age (90m, 2h, 7d).")] = None,
    until: Annotated[Moment, Query(
        description="Judged before: an ISO time or an age (90m, 2h, 7d).")] = None,
    reviewed: Annotated[bool | None, Query(
        description="Only submissions a reviewer has (true) or has not (false) decided "
                    "about.")] = None,
    effective_decision: Annotated[list[Decision] | None, Query(
        max_length=MAX_VALUES,
        description="The latest reviewer decision, else the machine's; repeatable.")] = None,
    q: Annotated[str | None, Query(max_length=200, description=(
        "Text the OCR read in the image (case-insensitive, anywhere in it)."))] = None,
    reviewer: Annotated[Values, Query(
        description="Decided about by this reviewer; repeatable.")] = None,
) -> VerdictFilter:
    """The filters of a dashboard request."""
    return VerdictFilter(
        decisions=tuple(dict.fromkeys(decision or ())),
        categories=_values("category", category),
        rules=_values("rule", rule),
        ad_ids=_values("ad_id", ad_id),
        industries=_values("industry", industry),
        since=_moment("since", since),
        until=_moment("until", until),
        reviewed=reviewed,
        effective_decisions=tuple(dict.fromkeys(effective_decision or ())),
        text=None if q is None or not q.strip() else check_text("q", q.strip()),
        reviewers=_values("reviewer", reviewer),
    )


#: The filters as a dependency.
FilterDep = Annotated[VerdictFilter, Depends(verdict_filter)]


@router.get("/v1/verdicts", response_model=VerdictPage, tags=["dashboards"],
            responses={200: {"content": {"text/csv": {}},
                             "description": "JSON, or CSV with `format=csv`"}})
async def get_verdicts(
    _key: Annotated[StoredKey, roles("GET", "/v1/verdicts")],
    state: StateDep,
    where: FilterDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH,
                                        description="`next_cursor` of the page before.")]
    = None,
    format: Annotated[Literal["json", "csv"], Query(
        description="`csv`: every verdict the filters keep (up to 100,000), one row each "
                    "with its effective decision and latest review; no paging.")] = "json",
) -> Any:
    """Current verdicts, newest first, filtered; keyset pages on the verdict id.

    Pages are stable under inserts: verdicts stored after the first page was read
    never appear on, or shift, the following pages.
    """
    try:
        before = None if cursor is None else decode_cursor(cursor)
    except BadCursor as exc:
        raise ApiProblem(422, "invalid_cursor", str(exc)) from None
    if format == "csv":
        body = await state.run_db(lambda: verdicts_csv(state.store(), where, before))
        return Response(body, media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": 'attachment; filename="verdicts.csv"'})
    items, next_id = await state.run_db(
        lambda: list_verdicts(state.store(), where, limit, before))
    return VerdictPage(items=[i.to_dict() for i in items],
                       next_cursor=None if next_id is None else encode_cursor(next_id))


@router.get("/v1/stats", response_model=StatsOut, tags=["dashboards"])
async def get_stats(
    _key: Annotated[StoredKey, roles("GET", "/v1/stats")],
    state: StateDep,
    where: FilterDep,
) -> StatsOut:
    """Counts of current verdicts by machine decision (``by_decision``) and effective
    decision (``by_effective_decision``), by matched category and by UTC day, the
    number and share of reviewed submissions, and reviewer throughput (``reviewers``:
    decisions per reviewer and per UTC hour, seconds from verdict to decision, over the
    decisions made between ``since`` and ``until``)."""
    stats = await state.run_db(lambda: verdict_stats(state.store(), where))
    return StatsOut(**stats)


__all__ = ["MAX_VALUES", "FilterDep", "router", "verdict_filter"]
