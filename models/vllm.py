"""HunyuanOCR served by vLLM's OpenAI-compatible server: the worker is an HTTP client.

Start the server next to the workers as Tencent's serve.sh does, for example::

    hf download tencent/HunyuanOCR --revision <commit> --local-dir HunyuanOCR --exclude "v1.0/*"
    vllm serve ./HunyuanOCR --served-model-name tencent/HunyuanOCR -tp 1 \\
        --limit-mm-per-prompt '{"image":4,"video":0}' --trust-remote-code \\
        --gpu-memory-utilization 0.9 --max-model-len 131072 \\
        --max-num-batched-tokens 131072 --port 8001

and set ``ADREVIEW_OCR_ENGINE=hunyuan-vllm`` (``ADREVIEW_VLLM_URL`` and friends in
``worker.settings``). vLLM batches the requests of all workers continuously, so each
batch handed to ``recognize`` goes out as ``vllm_concurrency`` concurrent requests,
one image per request.

Each request is a chat completion with the official spotting prompt: an empty system
message, then one user message holding the image (a base64 data URL) first and the
prompt second; greedy decoding, ``repetition_penalty`` 1.08 and at most 8192 new tokens.
Each image is sent whole unless it is past ``hunyuan_max_pixels`` or the aspect ratio
200 (``whole_image``). Replies are streamed, as Tencent's client does: the
tail-repetition stop of ``models.hunyuan_output`` is applied as the reply grows, and a
stuck reply is abandoned early (vLLM aborts the request). A reply that stopped at the cap
(``finish_reason`` ``length``) or was stopped is a truncated ``Reading``. The reply is
trimmed of runaway repetition and parsed into lines whose 0-1000 coordinates are scaled
to pixels of the image sent. A server that answers with a whole chat completion instead
of a stream is read the same way.

Failures map onto the project's error tree: connection errors, timeouts, 429 and 5xx
are retried with exponential backoff and full jitter and end as ``OcrUnavailable``;
any other 4xx is ``OcrRequestError`` at once; a 200 reply that is not a chat
completion is ``OcrError``.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

import httpx
from PIL import Image

from models.base import Reading, TextLine
from models.hunyuan_output import (
    REPETITION_PENALTY,
    RepetitionStop,
    build_messages,
    parse_spotting,
    trim_repetition,
)
from models.tiling import WholeImage
from worker.errors import EngineUnavailable, OcrError, OcrRequestError, OcrUnavailable
from worker.settings import Settings

log = logging.getLogger(__name__)

T = TypeVar("T")

#: First retry waits up to this many seconds; each further retry doubles the bound.
BACKOFF_BASE = 0.5

#: No single wait between retries is longer than this many seconds.
BACKOFF_MAX = 10.0

#: Images up to this many pixels are sent as PNG (lossless). Larger ones - photos and
#: full-size tiles, where PNG runs to many megabytes - go as JPEG quality 95 without
#: chroma subsampling, which keeps thin coloured strokes of text sharp.
PNG_MAX_PIXELS = 1024 * 1024

#: JPEG quality for images above ``PNG_MAX_PIXELS``.
JPEG_QUALITY = 95

#: Longest piece of a server's error body quoted in an exception message.
MAX_ERROR_CHARS = 500


def encode_image(image: Image.Image) -> str:
    """The image as a ``data:`` URL: PNG up to ``PNG_MAX_PIXELS``, JPEG q95 above."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    buffer = io.BytesIO()
    if rgb.width * rgb.height <= PNG_MAX_PIXELS:
        rgb.save(buffer, format="PNG")
        mime = "image/png"
    else:
        rgb.save(buffer, format="JPEG", quality=JPEG_QUALITY, subsampling=0)
        mime = "image/jpeg"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def server_message(response: httpx.Response) -> str:
    """The error message in a server's reply body, whatever shape it has.

    vLLM answers ``{"object": "error", "message": ...}`` or ``{"error": {"message": ...}}``;
    FastAPI itself answers ``{"detail": ...}``; anything else is quoted as text.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str) and error:
            return error
        for key in ("message", "detail"):
            if body.get(key):
                return str(body[key])
    text = response.text.strip()
    if len(text) > MAX_ERROR_CHARS:
        text = text[:MAX_ERROR_CHARS] + "..."
    return text or response.reason_phrase or "no message"


def reply_content(response: httpx.Response) -> str:
    """The assistant's text in a 200 chat-completion reply; ``OcrError`` if it has none."""
    return reply_choice(response)[0]


def reply_choice(response: httpx.Response) -> tuple[str, str | None]:
    """The assistant's text and the ``finish_reason`` of a 200 chat-completion reply."""
    try:
        body = response.json()
    except ValueError as exc:
        raise OcrError(f"vLLM reply from {response.url} is not JSON: {exc}") from exc
    try:
        choice = body["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError) as exc:
        raise OcrError(
            f"vLLM reply from {response.url} is not a chat completion: missing {exc}"
        ) from exc
    if content is None:
        content = ""
    if not isinstance(content, str):
        raise OcrError(f"vLLM reply from {response.url} has non-text content")
    finish = choice.get("finish_reason")
    if finish == "length":
        log.warning("OCR reply hit the max_tokens cap; the text was cut short")
    return content, finish if isinstance(finish, str) else None


class VllmHunyuanEngine:
    """HunyuanOCR text spotting through a vLLM server's ``/chat/completions``.

    One ``httpx.Client`` per engine, shared by the threads of every batch (httpx
    clients are thread-safe); ``close()`` releases its connections. ``version`` is
    ``vllm:<served model>`` plus ``@<revision>`` when the revision the server runs is
    configured (``ADREVIEW_HUNYUAN_REVISION``, the same pin the ``hunyuan`` engine
    uses): the server does not report which weights it loaded, so pin both.
    """

    name = "hunyuan-vllm"

    def __init__(
        self,
        url: str,
        model: str,
        *,
        api_key: str | None = None,
        revision: str | None = None,
        timeout: float = 120.0,
        connect_timeout: float = 5.0,
        retries: int = 3,
        concurrency: int = 8,
        max_tokens: int = 8192,
        max_pixels: int = 2048 * 2048,
        repeat_stop: RepetitionStop | None = None,
        backoff_base: float = BACKOFF_BASE,
        backoff_max: float = BACKOFF_MAX,
    ) -> None:
        self.url = url.rstrip("/")
        self.model = model
        self.revision = revision
        self.retries = max(0, retries)
        self.concurrency = max(1, concurrency)
        self.max_tokens = max_tokens
        self.max_pixels = max_pixels
        self.repeat_stop = repeat_stop or RepetitionStop()
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.version = (f"vllm:{model}" + (f"@{revision}" if revision else "")
                        + f"|{self.generation_settings()}")
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx.Client(
            headers=headers,
            # connect bounds reaching the server; read (also write and pool) bounds a decode.
            timeout=httpx.Timeout(timeout, connect=connect_timeout),
            limits=httpx.Limits(
                max_connections=max(100, self.concurrency),
                max_keepalive_connections=self.concurrency,
            ),
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> VllmHunyuanEngine:
        """The engine configured by the ``vllm_*`` settings."""
        return cls(
            settings.vllm_url,
            settings.vllm_model,
            api_key=settings.vllm_api_key,
            revision=settings.hunyuan_revision,
            timeout=settings.vllm_timeout,
            connect_timeout=settings.vllm_connect_timeout,
            retries=settings.vllm_retries,
            concurrency=settings.vllm_concurrency,
            max_tokens=settings.hunyuan_max_new_tokens,
            max_pixels=settings.hunyuan_max_pixels,
        )

    def generation_settings(self) -> str:
        """Every setting that changes what the server reads, as it enters ``version``."""
        return (f"max_tokens={self.max_tokens},repetition_penalty={REPETITION_PENALTY},"
                f"{self.repeat_stop.describe()},max_pixels={self.max_pixels}")

    def whole_image(self) -> WholeImage:
        """Images within the served processor's pixel budget are sent whole."""
        return WholeImage(self.max_pixels)

    @staticmethod
    def is_available() -> bool:
        """Always: httpx is a core dependency; whether a server answers is ``health()``."""
        return True

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()

    def __enter__(self) -> VllmHunyuanEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def recognize(self, images: Sequence[Image.Image]) -> list[list[TextLine]]:
        """Read every image, ``concurrency`` requests at a time; results in input order.

        The first failure (in input order) is raised; requests not yet sent are dropped.
        """
        return [reading.lines for reading in self.read(images)]

    def read(self, images: Sequence[Image.Image]) -> list[Reading]:
        """As ``recognize``, each reading marked when the server's reply was cut short."""
        if not images:
            return []
        if len(images) == 1 or self.concurrency == 1:
            return [self._read(image) for image in images]
        executor = ThreadPoolExecutor(
            max_workers=min(self.concurrency, len(images)), thread_name_prefix="vllm-ocr"
        )
        try:
            futures = [executor.submit(self._read, image) for image in images]
            return [future.result() for future in futures]
        finally:
            executor.shutdown(wait=True, cancel_futures=True)

    def health(self) -> list[str]:
        """The model names the server serves (``GET /models``).

        Raises ``OcrUnavailable`` when the server cannot be reached or fails, and
        ``EngineUnavailable`` when it does not serve the configured model.
        """
        response = self._send("GET", f"{self.url}/models", None)
        try:
            served = [str(entry["id"]) for entry in response.json()["data"]]
        except (ValueError, KeyError, TypeError) as exc:
            raise OcrError(f"vLLM reply from {response.url} is not a model list") from exc
        if self.model not in served:
            raise EngineUnavailable(
                f"vLLM server at {self.url} does not serve {self.model!r}; "
                f"it serves: {', '.join(served) or 'nothing'}"
            )
        return served

    def _read(self, image: Image.Image) -> Reading:
        """One image: request, trim, parse, with boxes in pixels of ``image``."""
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": build_messages(
                {"type": "image_url", "image_url": {"url": encode_image(image)}}
            ),
            "temperature": 0,
            "max_tokens": self.max_tokens,
            # vLLM's extra sampling parameters, accepted beside the OpenAI ones.
            "repetition_penalty": REPETITION_PENALTY,
            "skip_special_tokens": True,
        }
        payload["stream"] = True
        content, finish, stopped = self._send(
            "POST", f"{self.url}/chat/completions", payload,
            lambda response: read_streamed(response, self.repeat_stop),
        )
        stuck = stopped or repeats_stuck(content, self.repeat_stop)
        if stuck:
            log.warning("OCR reply ends repeating itself; the text was cut short")
        text = trim_repetition(content)
        return Reading(parse_spotting(text, image.width, image.height),
                       finish == "length" or stuck)

    def _send(
        self, method: str, url: str, payload: dict[str, Any] | None,
        read: Callable[[httpx.Response], T] | None = None,
    ) -> Any:
        """Send with retries; return ``read(response)`` of a 2xx response (the response,
        its body read, without ``read``) or raise one of the OCR errors. A connection lost
        while the body streams in is retried like one lost before."""
        failure = ""
        attempts = self.retries + 1
        for attempt in range(attempts):
            retry_after: float | None = None
            try:
                with self._client.stream(method, url, json=payload) as response:
                    status = response.status_code
                    if 200 <= status < 300:
                        if read is None:
                            response.read()
                            return response
                        return read(response)
                    response.read()
                    message = server_message(response)
                    if status != 429 and status < 500:
                        raise OcrRequestError(
                            f"vLLM server at {url} refused the request: HTTP {status}: "
                            f"{message}"
                        )
                    failure = f"HTTP {status}: {message}"
                    retry_after = _retry_after(response)
            except httpx.TransportError as exc:
                failure = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            if attempt + 1 < attempts:
                delay = self.retry_delay(attempt, retry_after)
                log.warning(
                    "vLLM request to %s failed (%s); retry %d of %d in %.2f s",
                    url, failure, attempt + 1, self.retries, delay,
                )
                time.sleep(delay)
        raise OcrUnavailable(
            f"vLLM server at {url} unavailable after {attempts} attempt(s): {failure}"
        )

    def retry_delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (0-based).

        Full jitter: uniform in [0, min(backoff_max, backoff_base * 2**attempt)], so
        workers that failed together do not retry together; at least the server's
        ``Retry-After`` (capped at ``backoff_max``) when it sent one.
        """
        bound = min(self.backoff_max, self.backoff_base * 2**attempt)
        delay = random.uniform(0.0, bound)  # noqa: S311 - jitter, not cryptography
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.backoff_max))
        return delay


def read_streamed(response: httpx.Response, policy: RepetitionStop) -> tuple[str, str | None, bool]:
    """The text, ``finish_reason`` and whether the repetition stop ended it, of a streamed
    chat completion (server-sent events), read as it arrives; a reply that is a whole
    chat completion (a server that does not stream) is read as one.

    The reply is checked at the stop ``policy``'s checkpoints; once it is stuck the
    stream is abandoned, which makes vLLM abort the request, so a runaway decode costs
    no more GPU time than it took to notice.
    """
    if "text/event-stream" not in response.headers.get("content-type", ""):
        response.read()
        content, reason = reply_choice(response)
        return content, reason, False
    stop = replace(policy, stopped=False, _next=None)
    parts: list[str] = []
    length = 0
    finish: str | None = None
    for line in response.iter_lines():
        if not line.startswith("data:"):
            continue
        data = line.removeprefix("data:").strip()
        if data == "[DONE]":
            break
        try:
            event = json.loads(data)
        except ValueError as exc:
            raise OcrError(f"vLLM stream from {response.url} is not JSON: {exc}") from exc
        if not isinstance(event, dict):
            raise OcrError(f"vLLM stream from {response.url} sent {type(event).__name__}")
        if event.get("error") is not None:
            error = event["error"]
            message = error.get("message") if isinstance(error, dict) else error
            raise OcrError(f"vLLM stream from {response.url} failed: {message}")
        choices = event.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            continue
        choice = choices[0]
        delta = choice.get("delta")
        piece = delta.get("content") if isinstance(delta, dict) else None
        if isinstance(piece, str) and piece:
            parts.append(piece)
            length += len(piece)
            if stop.due(length) and stop.check("".join(parts)):
                return "".join(parts), finish, True
        if isinstance(choice.get("finish_reason"), str):
            finish = choice["finish_reason"]
    if finish == "length":
        log.warning("OCR reply hit the max_tokens cap; the text was cut short")
    return "".join(parts), finish, False


def repeats_stuck(text: str, policy: RepetitionStop) -> bool:
    """Whether a whole reply ends stuck in a loop, by the stop ``policy`` (looked at once,
    as a streaming client would at the reply's last checkpoint)."""
    if len(text) < policy.start:
        return False
    stop = replace(policy, stopped=False, _next=None)
    return stop.check(text)


def _retry_after(response: httpx.Response) -> float | None:
    """The ``Retry-After`` header in seconds, when the server sent one as a number."""
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
