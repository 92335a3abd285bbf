"""One settings class for the whole service; every default is documented here.

Values come from ``ADREVIEW_*`` environment variables (``ADREVIEW_DATABASE_URL``,
``ADREVIEW_REDIS_URL``, ``ADREVIEW_OCR_ENGINE``, ``ADREVIEW_RULES_DIR``, ...);
command-line flags override them by passing keyword arguments to ``Settings``.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

#: The rule set shipped inside the package; used when ``ADREVIEW_RULES_DIR`` is unset.
SHIPPED_RULES_DIR = Path(__file__).resolve().parent.parent / "rules" / "shipped"


class Settings(BaseSettings):
    """adreview's configuration. Field names map to ``ADREVIEW_<NAME>`` variables."""

    model_config = SettingsConfigDict(env_prefix="ADREVIEW_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///adreview.db",
        description="SQLAlchemy URL; a SQLite file in the working directory by default.",
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Celery broker.")
    ocr_engine: str = Field(default="rapidocr", description="OCR engine name (see models/).")
    rules_dir: Path = Field(default=SHIPPED_RULES_DIR, description="Folder of rule YAML files.")

    min_match_confidence: float = Field(
        default=0.5,
        description="A reject-severity match read with lower OCR confidence counts as review.",
    )
    near_miss: bool = Field(
        default=True,
        description="Also report claims OCR read with one character dropped or confused "
        "(第品牌 for 第一品牌, 7天限治 for 7天根治) as uncertain review evidence.",
    )
    second_look: bool = Field(
        default=True,
        description="Read again, from its padded and upscaled crop, each line read with low "
        "confidence or holding a near-miss claim (engines that can read a single line).",
    )
    second_look_below: float = Field(
        default=0.8, description="Lines read with less confidence than this get a second look."
    )
    second_look_max_lines: int = Field(
        default=3, ge=0, description="At most this many lines of an image get a second look."
    )

    # Image intake limits: enforced before a single pixel is decoded.
    max_image_bytes: int = Field(default=20 * 1024 * 1024, description="Largest accepted file.")
    max_image_pixels: int = Field(
        default=60_000_000, description="Largest accepted width x height (decompression bombs)."
    )
    # Long or large images are tiled instead of being shrunk past legibility.
    tile_aspect_ratio: float = Field(
        default=2.5,
        description="Cut an image into tiles when its long/short side ratio exceeds this.",
    )
    tile_overlap: float = Field(default=0.15, description="Overlap between tiles, as a fraction.")
    max_tile_side: int = Field(default=2048, description="Tile any side longer than this (px).")
    # Animated GIF/WebP/PNG: every visually distinct frame, up to a cap.
    max_frames: int = Field(default=12, description="Read at most this many frames.")
    frame_change: float = Field(
        default=0.0025,
        description="Share of the picture that must change for a frame to count as new "
        "(compared on small grey thumbnails with the last new one).",
    )
    frame_min_ms: float = Field(
        default=100.0,
        description="A picture shown for less than this (ms) in all is brief: when there are "
        "more pictures than max_frames, it is read only if room is left.",
    )

    # Image intake by URL or shared path (producers' submissions).
    fetch_timeout: float = Field(default=10.0, description="Seconds to fetch an image URL.")
    fetch_max_redirects: int = Field(default=3, description="Redirects followed per fetch.")
    allow_private_urls: bool = Field(
        default=False,
        description="Allow image URLs on loopback, private, link-local and metadata addresses.",
    )
    shared_root: Path | None = Field(
        default=None,
        description="Folder that path submissions must lie under; None refuses paths.",
    )
    inline_max_bytes: int = Field(
        default=2 * 1024 * 1024,
        description="Largest image carried inside a queue message; larger ones go by path/URL.",
    )

    # Celery workers.
    queue: str = Field(default="adreview", description="Queue of the CPU engines.")
    gpu_queue: str = Field(default="adreview.gpu", description="Queue of HunyuanOCR.")
    max_attempts: int = Field(
        default=3,
        description="Deliveries of one submission before it ends as an error verdict.",
    )
    transient_retries: int = Field(
        default=5,
        description="Retries of one delivery on transient errors (OCR server, database, "
        "broker) before an OCR outage ends as an ``ocr_unavailable`` verdict.",
    )
    retry_backoff_base: float = Field(
        default=2.0,
        description="Seconds before the first transient retry; doubled per retry, full jitter.",
    )
    retry_backoff_max: float = Field(default=120.0, description="Cap on one retry's wait (s).")
    task_soft_time_limit: float = Field(default=120.0, description="Soft limit per task (s).")
    task_time_limit: float = Field(default=180.0, description="Hard limit per task (s).")
    worker_max_memory_per_child: int = Field(
        default=2_000_000, description="KiB of resident memory before a child is replaced."
    )
    stale_minutes: float = Field(
        default=15.0,
        description="Minutes a submission may stay queued or processing without progress "
        "before the workers' sweep sends it again (as ``adreview requeue --stale``). Keep it "
        "above the hard time limit plus the broker's visibility timeout, so that a review "
        "still running is not sent twice.",
    )
    callback_seconds: float = Field(
        default=1.0,
        description="Seconds between the workers' rounds delivering the callback outbox "
        "(review callbacks, in order per submission); 0 turns the delivery off.",
    )
    relay_seconds: float = Field(
        default=2.0,
        description="Seconds between the workers' rounds sending stored submissions whose "
        "message never reached the broker (the send outbox); one worker relays per "
        "interval (a Redis lock), 0 turns the relay off.",
    )
    sweep_seconds: float = Field(
        default=60.0,
        description="Seconds between sweeps for stale submissions; one worker sweeps per "
        "interval (a Redis lock), 0 turns the sweep off.",
    )
    broker_socket_timeout: float = Field(
        default=30.0,
        description="Seconds a blocking Redis command (a publish, an acknowledgement) waits on "
        "a dead link before it fails, and the TCP user timeout of Redis connections (see "
        "worker/broker_link.py). Keep it below the soft time limit, so that a review whose "
        "link died fails and is retried instead of being killed by the time limit.",
    )
    heartbeat_seconds: float = Field(
        default=10.0,
        description="Seconds between a worker's heartbeats in Redis (the workers-seen gauge "
        "counts workers whose last beat is younger than three intervals); 0 turns them off.",
    )
    heartbeat_file: Path | None = Field(
        default=None,
        description="A file each heartbeat touches, for a liveness probe "
        "(`python -m worker.heartbeat FILE --max-age 60`); None touches none.",
    )

    # Verdict callbacks (``callback_url`` in a submission's metadata).
    webhook_secret: str | None = Field(
        default=None,
        description="HMAC-SHA256 signing secret of callbacks; None (or empty) sends none: "
        "unsigned callbacks are never sent.",
    )
    webhook_attempts: int = Field(
        default=5, description="Attempts per callback (the first one included)."
    )
    webhook_backoff: float = Field(
        default=1.0,
        description="Seconds before the first callback retry; doubled per retry, plus jitter.",
    )
    webhook_timeout: float = Field(default=10.0, description="Seconds one callback may take.")

    # HTTP API.
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Origins allowed by CORS, a JSON list or comma-separated; empty = CORS off.",
    )
    api_keys: str = Field(
        default="",
        description="API keys to make sure exist, one `ROLE NAME KEY` per line (keys made "
        "with `adreview keys create` or `adr_` + 32 or more URL-safe characters); stored "
        "hashed by `adreview migrate`, so deployments can provide keys as a secret.",
        repr=False,
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Addresses or networks of reverse proxies whose X-Forwarded-Proto and "
        "X-Forwarded-For the API believes (a JSON list or comma-separated; * trusts any); "
        "empty = none: the scheme is the connection's own.",
    )
    review_session_minutes: float = Field(
        default=480.0,
        description="Minutes a sign-in to the /review pages lasts (the session then expires; "
        "signing out or revoking the key ends it sooner).",
    )
    api_db_pool_size: int = Field(
        default=10, description="Database connections an API process keeps open."
    )
    api_db_max_overflow: int = Field(
        default=10, description="Connections an API process may open beyond the pool size."
    )
    api_db_wait: float = Field(
        default=10.0,
        description="Seconds an API request waits for a free database connection before it "
        "is answered 503 database_busy with Retry-After.",
    )

    # RapidOCR (embedded default).
    ocr_threads: int = Field(
        default=0, description="onnxruntime intra-op threads per process; 0 = cores / workers."
    )

    # HunyuanOCR through transformers.
    hunyuan_model: str = Field(
        default="tencent/HunyuanOCR", description="Local folder or hub id of HunyuanOCR."
    )
    hunyuan_revision: str | None = Field(
        default=None,
        description="Pinned hub revision (commit); required for hub ids, ignored for folders.",
    )
    hunyuan_device: str | None = Field(
        default=None, description="torch device; CUDA when present, else CPU."
    )
    hunyuan_batch_size: int = Field(
        default=1,
        description="Images per generate() call. One, as Tencent runs it: batched bf16 output "
        "is not yet shown equal to single (scripts/gpu-check.sh compares them).",
    )
    hunyuan_max_new_tokens: int = Field(
        default=8192,
        description="Cap on generated tokens (Tencent recommends 8192); a read that reaches "
        "it is truncated and sends the ad to review.",
    )
    hunyuan_attn_implementation: str = Field(
        default="eager",
        description="transformers attention: eager (as Tencent runs it), sdpa or "
        "flash_attention_2.",
    )
    hunyuan_max_pixels: int = Field(
        default=2048 * 2048,
        description="Largest image, in pixels, HunyuanOCR reads whole (its processor's "
        "max_pixels; the transformers engine uses its loaded processor's own value). Larger "
        "images, and those past the aspect ratio 200, are read in tiles.",
    )

    # HunyuanOCR behind a vLLM OpenAI-compatible server.
    vllm_url: str = Field(default="http://127.0.0.1:8001/v1", description="vLLM server base URL.")
    vllm_model: str = Field(default="tencent/HunyuanOCR", description="Served model name.")
    vllm_api_key: str | None = Field(
        default=None, description="Bearer token, if the server wants one."
    )
    vllm_timeout: float = Field(default=120.0, description="Read timeout per request (s).")
    vllm_connect_timeout: float = Field(default=5.0, description="Connect timeout (s).")
    vllm_retries: int = Field(default=3, description="Retries on connection errors and 5xx.")
    vllm_concurrency: int = Field(default=8, description="Requests in flight per batch.")

    @field_validator("cors_origins", "trusted_proxies", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        """Accept ``["https://a", "https://b"]`` as well as ``https://a,https://b``."""
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                import json

                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("webhook_secret", mode="after")
    @classmethod
    def _empty_secret_is_none(cls, value: str | None) -> str | None:
        """An empty ``ADREVIEW_WEBHOOK_SECRET`` means no secret."""
        return value or None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings read from the environment (cached)."""
    return Settings()
