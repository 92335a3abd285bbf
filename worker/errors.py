"""The project's exception tree. Every error adreview raises on purpose is one of these.

::

    AdreviewError
    ├── ConfigError            a setting or command-line option is unusable
    ├── RuleError              a rule set failed to load (carries every RuleProblem found)
    ├── UnknownIndustry        an ad declared an industry the rule set does not know
    │                          (rules.engine; carries ``industry`` and ``known``)
    ├── ImageError             an image cannot be reviewed (carries a stable ErrorCode)
    └── OcrError               an OCR engine failed
        ├── EngineNotFound     no engine of that name (lists the available ones)
        ├── EngineUnavailable  the engine's optional packages or model are missing
        ├── OcrUnavailable     transient: the OCR server is down or timing out (retry)
        └── OcrRequestError    permanent: the OCR server refused the request (4xx)

Errors carry their context as attributes so that the shells (CLI, Celery task,
HTTP API) can map them to exit codes, error verdicts and HTTP statuses in one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ErrorCode(StrEnum):
    """Stable reason codes stored in ``error`` verdicts; dashboards filter on them."""

    INVALID_IMAGE = "invalid_image"
    IMAGE_TOO_LARGE = "image_too_large"
    UNSUPPORTED_FORMAT = "unsupported_format"
    FETCH_FAILED = "fetch_failed"
    OCR_FAILED = "ocr_failed"
    OCR_UNAVAILABLE = "ocr_unavailable"
    #: The submission declared an industry the rule set does not (or no longer) declare.
    UNKNOWN_INDUSTRY = "unknown_industry"
    #: The submission names an OCR engine no worker knows.
    UNKNOWN_ENGINE = "unknown_engine"
    #: The queue message itself is malformed (its image reference, engine or arguments).
    INVALID_MESSAGE = "invalid_message"
    #: A bug or an unexpected failure, after ``max_attempts`` deliveries.
    INTERNAL = "internal"
    #: The worker has no rule set that loads (its rule folder was broken when it started).
    RULES_UNUSABLE = "rules_unusable"


class AdreviewError(Exception):
    """Root of every error adreview raises on purpose."""


class ConfigError(AdreviewError):
    """A setting or option cannot be used as given."""


@dataclass(frozen=True)
class RuleProblem:
    """One thing wrong in a rule file, located as ``file:line``."""

    file: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.message}"


class RuleError(AdreviewError):
    """A rule set could not be loaded. ``problems`` lists everything found, in file order."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class ImageError(AdreviewError):
    """An image cannot be reviewed; ``code`` is the stable reason stored in the verdict."""

    def __init__(self, code: ErrorCode, message: str) -> None:
        self.code = code
        self.message = message
        super().__init__(f"{code.value}: {message}")


class OcrError(AdreviewError):
    """An OCR engine failed to read an image."""

    code: ErrorCode = ErrorCode.OCR_FAILED


class EngineNotFound(OcrError):
    """No OCR engine is registered under the requested name."""

    def __init__(self, name: str, available: list[str]) -> None:
        self.name = name
        self.available = sorted(available)
        super().__init__(
            f"unknown OCR engine {name!r}; available: {', '.join(self.available) or 'none'}"
        )


class EngineUnavailable(OcrError):
    """The engine exists but cannot run here (a missing optional package or model)."""


class OcrUnavailable(OcrError):
    """The OCR backend is unreachable or timed out; retrying later may succeed."""

    code = ErrorCode.OCR_UNAVAILABLE


class OcrRequestError(OcrError):
    """The OCR backend refused the request; retrying the same request will not help."""
