"""Where a submission's image is kept, for the API, the console and ``adreview annotate``.

Inline submissions keep their bytes in the database (in the queued message's image
reference), path submissions under ``shared_root``, scans at the scanned path, and URL
submissions in ``fetched_images`` once a worker has fetched them: an image is never
fetched again to be shown.
"""

from __future__ import annotations

from pathlib import Path

from worker.client import load_image
from worker.db import Store, StoredSubmission
from worker.errors import AdreviewError
from worker.settings import Settings


class ImageNotKept(AdreviewError):
    """A submission's image cannot be read here; the message says why."""


def stored_image(sub: StoredSubmission, settings: Settings, store: Store | None = None
                 ) -> bytes:
    """The image bytes of ``sub`` where this machine can reach them, or ``ImageNotKept``
    (an inline or shared-folder image that cannot be read raises ``ImageError``)."""
    ref = (sub.metadata or {}).get("image_ref")
    if isinstance(ref, dict) and ("inline" in ref or "path" in ref):
        return load_image({k: str(v) for k, v in ref.items()}, settings)
    if sub.source.startswith("scan:"):
        try:
            return Path(sub.source.removeprefix("scan:")).read_bytes()
        except OSError as exc:
            raise ImageNotKept(f"the scanned file of submission {sub.id} cannot be read "
                               f"({exc.strerror or exc})") from None
    if isinstance(ref, dict) and "url" in ref:
        kept = None if store is None else store.fetched_image(sub.id)
        if kept is not None:
            return kept
        raise ImageNotKept(f"submission {sub.id} came by URL and its image is not kept here "
                           "(not fetched yet, or over the size limit)")
    raise ImageNotKept(f"the image of submission {sub.id} is not kept here")


__all__ = ["ImageNotKept", "stored_image"]
