"""Where the API finds a submission's image, and the media types it answers with."""

from __future__ import annotations

from pathlib import Path

from worker.api.state import ApiProblem
from worker.client import load_image
from worker.db import Store, StoredSubmission
from worker.errors import ImageError
from worker.settings import Settings

#: Media types of the image formats the decoder knows.
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
               "WEBP": "image/webp", "BMP": "image/bmp", "TIFF": "image/tiff",
               "HEIF": "image/heif"}


def stored_image(sub: StoredSubmission, settings: Settings, store: Store | None = None
                 ) -> bytes:
    """The image bytes of a submission, where this service can reach them.

    Inline submissions keep them in the database, path submissions under
    ``shared_root``, scans at the scanned path, URL submissions in ``fetched_images``
    once a worker has fetched them (looked up in ``store``; never fetched again here).
    Otherwise ``ApiProblem`` 404 ``image_not_available`` says why.
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
        kept = None if store is None else store.fetched_image(sub.id)
        if kept is not None:
            return kept
        raise ApiProblem(404, "image_not_available",
                         f"submission {sub.id} came by URL and its image is not kept here "
                         "(not fetched yet, or over the size limit)")
    raise ApiProblem(404, "image_not_available",
                     f"the image of submission {sub.id} is not kept here")


def image_problem(exc: ImageError) -> ApiProblem:
    """A stored image the service cannot decode within its limits: 422 with the code the
    worker's verdict carries (``invalid_image``, ``image_too_large``,
    ``unsupported_format``). Never 413: the request was small; the image is what is not
    processable."""
    return ApiProblem(422, exc.code.value, exc.message)


__all__ = ["MEDIA_TYPES", "image_problem", "stored_image"]
