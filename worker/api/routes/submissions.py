"""Submissions: producers hand in images and read back their own; reviewers read every
submission, its image and the image with its evidence drawn.

A producer key sees only the submissions it made (``submissions.api_key_id``); asking for
another one is 404, as for one that does not exist. Reviewer and admin keys see all.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import secrets
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from models.images import sniff_format
from worker.api.deps import StateDep, SubmissionId, roles, sees
from worker.api.errors import disk_problem
from worker.api.images import MEDIA_TYPES, image_problem, stored_image
from worker.api.inputs import parse_metadata
from worker.api.schemas import (
    ErrorBody,
    SubmissionAccepted,
    SubmissionFields,
    SubmissionIn,
    SubmissionOut,
)
from worker.api.state import ApiProblem, ApiState
from worker.api.webhooks import check_callback_url
from worker.client import RESERVED_METADATA
from worker.db import StoredSubmission
from worker.db.keys import StoredKey
from worker.db.records import lines_to_json
from worker.errors import ImageError
from worker.settings import Settings

router = APIRouter()

#: Form fields of a multipart submission besides ``file``.
FORM_FIELDS = ("ad_id", "metadata", "callback_url", "industry")
#: Largest non-file form field (metadata JSON, URLs).
BODY_FIELD_LIMIT = 64 * 1024
#: Warning given when a callback URL is stored but no callback can be signed.
UNSIGNED_CALLBACK = ("callback_url is stored but will not be called: this server has no "
                     "webhook secret (ADREVIEW_WEBHOOK_SECRET)")


def location(submission_id: str) -> str:
    """The path of a submission (the ``Location`` of 202 and 503 answers)."""
    return f"/v1/submissions/{submission_id}"


def validation_message(errors: Any) -> str:
    """One line naming every field that failed validation and why."""
    parts = []
    for error in errors:
        where = ".".join(str(p) for p in error.get("loc", ()) if p != "body")
        parts.append(f"{where or 'body'}: {error.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def _submission_out(sub: StoredSubmission, verdict: dict[str, Any] | None,
                    reviews: list[dict[str, Any]]) -> SubmissionOut:
    meta = {k: v for k, v in (sub.metadata or {}).items() if k not in RESERVED_METADATA}
    return SubmissionOut(id=sub.id, ad_id=sub.ad_id, status=sub.status.value, source=sub.source,
                         sha256=sub.sha256, attempts=sub.attempts, metadata=meta,
                         industry=sub.industry,
                         created=sub.created.isoformat(), updated=sub.updated.isoformat(),
                         verdict=verdict, reviews=reviews)


async def submission_or_404(state: ApiState, key: StoredKey,
                            submission_id: str) -> StoredSubmission:
    """The submission, if it exists and ``key`` may see it; 404 otherwise."""
    sub = await state.run_db(lambda: state.store().get_submission(submission_id))
    if sub is None or not sees(key, sub.api_key_id):
        raise ApiProblem(404, "not_found", f"no submission {submission_id!r}")
    return sub


def _fields(values: dict[str, Any]) -> SubmissionFields:
    try:
        return SubmissionFields.model_validate(values)
    except ValidationError as exc:
        raise ApiProblem(422, "invalid_request", validation_message(exc.errors())) from None


async def _read_submission(request: Request) -> tuple[bytes | str, SubmissionFields]:
    """(image bytes or URL, the other fields) from a multipart or JSON body, validated
    alike."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form(max_files=1, max_fields=len(FORM_FIELDS),
                                max_part_size=BODY_FIELD_LIMIT) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise ApiProblem(422, "invalid_request",
                                 "a multipart submission needs a `file` part")
            data = await upload.read()
            raw = {name: form.get(name) for name in FORM_FIELDS}
        texts = {k: v if isinstance(v, str) and v != "" else None for k, v in raw.items()}
        try:
            metadata = parse_metadata(texts.pop("metadata"))
        except ValueError as exc:
            raise ApiProblem(422, "invalid_request", f"metadata: {exc}") from None
        return data, _fields({**texts, "metadata": metadata})
    if not content_type.startswith("application/json"):
        raise ApiProblem(415, "unsupported_media_type",
                         "send multipart/form-data with a `file` part, or JSON")
    try:
        body = SubmissionIn.model_validate_json(await request.body())
    except ValidationError as exc:
        raise ApiProblem(422, "invalid_request", validation_message(exc.errors())) from None
    if (body.image is None) == (body.url is None):
        raise ApiProblem(422, "invalid_request", "give exactly one of `image` (base64) or `url`")
    fields = SubmissionFields.model_construct(
        **{name: getattr(body, name) for name in SubmissionFields.model_fields})
    if body.url is not None:
        return body.url, fields
    try:
        data = base64.b64decode(body.image or "", validate=True)
    except (binascii.Error, ValueError):
        raise ApiProblem(422, "invalid_request", "`image` is not valid base64") from None
    return data, fields


def _spill_to_shared(data: bytes, settings: Settings) -> Path:
    """Write an upload too big to travel inline under ``shared_root/uploads``: into a
    partial file of its own, renamed into place once whole. A write that fails (a full
    disk, a read-only folder) removes its partial file and answers 507 or 503
    (``disk_problem``)."""
    assert settings.shared_root is not None  # noqa: S101 - checked by the caller
    folder = settings.shared_root / "uploads"
    target = folder / hashlib.sha256(data).hexdigest()
    partial = folder / f"{target.name}.{secrets.token_hex(4)}.part"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if not target.exists():
            try:
                partial.write_bytes(data)
                partial.replace(target)
            finally:
                partial.unlink(missing_ok=True)
    except OSError as exc:
        raise disk_problem(exc, "the shared folder") from None
    return target


@router.post(
    "/v1/submissions", status_code=202, response_model=SubmissionAccepted,
    tags=["producers"],
    openapi_extra={"requestBody": {"required": True, "content": {
        "application/json": {"schema": SubmissionIn.model_json_schema()},
        "multipart/form-data": {"schema": {
            "type": "object", "required": ["file"],
            "properties": {"file": {"type": "string", "format": "binary"},
                           "ad_id": {"type": "string", "maxLength": 255},
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
    responses={202: {"headers": {"Location": {"description": "The submission's path.",
                                              "schema": {"type": "string"}}}},
               503: {"model": ErrorBody, "description":
                     "Stored, but the broker is down: it will be re-sent (the answer has "
                     "the id, `Location` and `Retry-After`)."}},
)
async def create_submission(
    request: Request, response: Response, state: StateDep,
    key: Annotated[StoredKey, roles("POST", "/v1/submissions")],
) -> SubmissionAccepted:
    """Queue an image for review: a multipart `file`, JSON base64 `image`, or JSON `url`.

    `industry` (or `metadata.industry`) declares the ad's industry; one the rule set
    does not declare is refused with 422 `unknown_industry` before anything is stored.
    A `url` the workers will not fetch (a private, loopback or link-local address, while
    `ADREVIEW_ALLOW_PRIVATE_URLS` is off) is refused with 422 `url_not_allowed`.
    The submission belongs to the key that made it: another producer key cannot read
    it. On a broker outage the submission is still stored (503 names its id) and is
    sent again by `adreview requeue`.
    """
    settings = state.settings
    image, fields = await _read_submission(request)
    meta = dict(fields.metadata or {})
    warnings: list[str] = []
    if fields.callback_url is not None:
        check_callback_url(fields.callback_url)
        meta["callback_url"] = fields.callback_url
        if not settings.webhook_secret:
            warnings.append(UNSIGNED_CALLBACK)
    meta["submitted_by"] = key.name
    if isinstance(image, str):
        from worker.fetch import url_refusal

        refusal = url_refusal(image, settings)
        if refusal is not None:
            raise ApiProblem(422, "url_not_allowed", refusal)
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

    store = await run_in_threadpool(state.store)
    submission_id = await state.run_db(
        lambda: submit(target, ad_id=fields.ad_id, metadata=meta, settings=settings,
                       industry=fields.industry, store=store, api_key_id=key.id))
    response.headers["Location"] = location(submission_id)
    return SubmissionAccepted(id=submission_id, warnings=warnings)


@router.get("/v1/submissions/{submission_id}", response_model=SubmissionOut,
            tags=["producers"])
async def get_submission(
    submission_id: SubmissionId, state: StateDep,
    key: Annotated[StoredKey, roles("GET", "/v1/submissions/{submission_id}")],
    lines: Annotated[bool, Query(description="Add every OCR line the verdict was judged on.")]
    = False,
) -> SubmissionOut:
    """A submission's status, its current verdict with evidence, and reviewer decisions.

    Producer keys see the submissions they made; reviewer and admin keys see all. With
    ``lines=true`` the answer also holds every OCR line read in the image (what a reviewer
    or rule editor needs to understand a missed claim).
    """
    sub = await submission_or_404(state, key, submission_id)

    def read() -> tuple[dict[str, Any] | None, list[dict[str, Any]], list[dict[str, Any]] | None]:
        store = state.store()
        current = store.current_verdict(submission_id)
        read_lines = None
        if lines and current is not None and current.sha256 is not None:
            stored = store.get_ocr(current.sha256, current.verdict.engine,
                                   current.verdict.engine_version)
            read_lines = lines_to_json(stored or [])
        return (None if current is None else current.to_dict(),
                [r.to_dict() for r in store.reviews(submission_id)], read_lines)

    verdict, reviews, ocr = await state.run_db(read)
    out = _submission_out(sub, verdict, reviews)
    if lines:
        out.lines = ocr if ocr is not None else []
    return out


@router.get("/v1/submissions/{submission_id}/image", tags=["dashboards"],
            response_class=Response,
            responses={200: {"content": {"image/*": {}}, "description": "The image."}})
async def get_image(
    submission_id: SubmissionId, state: StateDep,
    key: Annotated[StoredKey, roles("GET", "/v1/submissions/{submission_id}/image")],
) -> Response:
    """The submitted image, as it was sent."""
    sub = await submission_or_404(state, key, submission_id)
    data = await state.run_db(lambda: stored_image(sub, state.settings, state.store()))
    media = MEDIA_TYPES.get(sniff_format(data) or "", "application/octet-stream")
    return Response(data, media_type=media)


@router.get("/v1/submissions/{submission_id}/annotated", tags=["dashboards"],
            response_class=Response,
            responses={200: {"content": {"image/png": {}},
                             "description": "The image with every match boxed."}})
async def get_annotated(
    submission_id: SubmissionId, state: StateDep,
    key: Annotated[StoredKey, roles("GET", "/v1/submissions/{submission_id}/annotated")],
) -> Response:
    """The image with every match of the current verdict outlined and labelled (PNG)."""
    sub = await submission_or_404(state, key, submission_id)
    current = await state.run_db(lambda: state.store().current_verdict(submission_id))
    if current is None:
        raise ApiProblem(409, "no_verdict", f"submission {submission_id} has no verdict yet")
    data = await state.run_db(lambda: stored_image(sub, state.settings, state.store()))

    def draw() -> bytes:
        from worker.annotate import annotate

        out = io.BytesIO()
        try:
            annotate(data, current.verdict.matches, state.settings).save(out, format="PNG")
        except ImageError as exc:
            raise image_problem(exc) from None
        return out.getvalue()

    return Response(await state.run_cpu(draw), media_type="image/png")


__all__ = ["BODY_FIELD_LIMIT", "FORM_FIELDS", "location", "router", "submission_or_404",
           "validation_message"]
