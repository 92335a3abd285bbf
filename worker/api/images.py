"""Where the API finds a submission's image, and the media types it answers with."""

from __future__ import annotations

from worker.api.state import ApiProblem
from worker.db import Store, StoredSubmission
from worker.errors import ImageError
from worker.settings import Settings
from worker.stored_images import ImageNotKept
from worker.stored_images import stored_image as kept_image

#: Media types of the image formats the decoder knows.
MEDIA_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif",
               "WEBP": "image/webp", "BMP": "image/bmp", "TIFF": "image/tiff",
               "HEIF": "image/heif"}


def stored_image(sub: StoredSubmission, settings: Settings, store: Store | None = None
                 ) -> bytes:
    """The image bytes of a submission, where this service can reach them
    (``worker.stored_images``); otherwise ``ApiProblem`` 404 ``image_not_available``
    says why."""
    try:
        return kept_image(sub, settings, store)
    except ImageNotKept as exc:
        raise ApiProblem(404, "image_not_available", str(exc)) from None


def image_problem(exc: ImageError) -> ApiProblem:
    """A stored image the service cannot decode within its limits: 422 with the code the
    worker's verdict carries (``invalid_image``, ``image_too_large``,
    ``unsupported_format``). Never 413: the request was small; the image is what is not
    processable."""
    return ApiProblem(422, exc.code.value, exc.message)


__all__ = ["MEDIA_TYPES", "image_problem", "stored_image"]
