"""VllmHunyuanEngine against a real HTTP server on 127.0.0.1 that speaks like vLLM.

The server checks each request the way vLLM's OpenAI-compatible endpoint would (path,
model name, message layout, image data URL) and answers with chat completions, errors,
delays or garbage as each test scripts it.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from PIL import Image

from models.hunyuan_output import SPOTTING_PROMPT, RepetitionStop
from models.registry import create_engine
from models.tiling import WholeImage
from models.vllm import PNG_MAX_PIXELS, VllmHunyuanEngine, read_streamed
from worker.errors import (
    EngineUnavailable,
    OcrError,
    OcrRequestError,
    OcrUnavailable,
)
from worker.settings import Settings

SERVED = "tencent/HunyuanOCR"
CONTENT = "全网第一(100,200),(300,260)"


@dataclass
class Seen:
    """One request as the server received it, with the image it carried decoded."""

    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    image_format: str | None = None
    image_size: tuple[int, int] | None = None


@dataclass
class Reply:
    """What the server answers: a status, a JSON body (or raw bytes), an optional delay."""

    status: int = 200
    body: Any = None
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def completion(content: str, finish_reason: str = "stop") -> dict[str, Any]:
    """A chat completion shaped like vLLM's."""
    return {
        "id": "chatcmpl-0123456789abcdef",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": SERVED,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "tool_calls": []},
                "logprobs": None,
                "finish_reason": finish_reason,
                "stop_reason": None,
            }
        ],
        "usage": {"prompt_tokens": 1100, "total_tokens": 1120, "completion_tokens": 20},
    }


def vllm_error(status: int, message: str, kind: str = "BadRequestError") -> Reply:
    """An error body the way vLLM writes it."""
    return Reply(status, {"object": "error", "message": message, "type": kind, "code": status})


def check_chat_request(body: Any) -> tuple[str | None, Image.Image | None]:
    """What vLLM would object to in a chat request (or None), and the image it carries."""
    if not isinstance(body, dict):
        return "body is not a JSON object", None
    messages = body.get("messages")
    if not isinstance(messages, list) or len(messages) != 2:
        return f"expected two messages, got {messages!r}", None
    system, user = messages
    if system != {"role": "system", "content": ""}:
        return f"first message must be an empty system message, got {system!r}", None
    if user.get("role") != "user" or not isinstance(user.get("content"), list):
        return "second message must be a user message with a content list", None
    parts = user["content"]
    if [part.get("type") for part in parts] != ["image_url", "text"]:
        return f"user content must be image then text, got {parts!r}", None
    if parts[1].get("text") != SPOTTING_PROMPT:
        return f"unexpected prompt {parts[1].get('text')!r}", None
    url = parts[0].get("image_url", {}).get("url", "")
    header, _, data = url.partition(",")
    if header not in ("data:image/png;base64", "data:image/jpeg;base64"):
        return f"image_url must be a base64 PNG/JPEG data URL, got {url[:40]!r}", None
    try:
        image = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
        image.load()
    except (binascii.Error, OSError) as exc:
        return f"image does not decode: {exc}", None
    if image.format != header.removeprefix("data:image/").removesuffix(";base64").upper():
        return f"data URL says {header} but holds {image.format}", None
    return None, image


class FakeVllm:
    """A ThreadingHTTPServer on an ephemeral port serving /v1/chat/completions and /v1/models.

    ``respond(seen, index)`` decides each reply to a valid chat request (``index`` counts
    the chat requests from 0); by default it answers ``CONTENT``. The server records
    every request and the largest number of requests it had in flight at once.
    """

    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key
        self.respond: Callable[[Seen, int], Reply] = lambda seen, index: Reply(
            body=completion(CONTENT)
        )
        self.seen: list[Seen] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self.server = _QuietServer(("127.0.0.1", 0), _Handler)
        self.server.fake = self
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self._thread.start()

    @property
    def chats(self) -> list[Seen]:
        """The chat-completion requests received, in arrival order."""
        return [s for s in self.seen if s.path == "/v1/chat/completions"]

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def handle(self, handler: BaseHTTPRequestHandler) -> None:
        with self._lock:
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            reply = self._reply(handler)
            if reply.delay:
                self.stopping.wait(reply.delay)
            self._write(handler, reply)
        finally:
            with self._lock:
                self.in_flight -= 1

    def _reply(self, handler: BaseHTTPRequestHandler) -> Reply:
        length = int(handler.headers.get("Content-Length") or 0)
        raw = handler.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        seen = Seen(
            handler.command,
            handler.path,
            {k.lower(): v for k, v in handler.headers.items()},
            body,
        )
        with self._lock:
            self.seen.append(seen)
            index = len(self.chats) - 1
        if self.api_key and seen.headers.get("authorization") != f"Bearer {self.api_key}":
            return Reply(401, {"error": "Unauthorized"})
        if handler.command == "GET" and handler.path == "/v1/models":
            return Reply(body={"object": "list", "data": [{"id": SERVED, "object": "model",
                                                           "root": SERVED, "owned_by": "vllm"}]})
        if handler.command != "POST" or handler.path != "/v1/chat/completions":
            return Reply(404, {"detail": "Not Found"})
        if not isinstance(body, dict):
            return vllm_error(400, "request body is not a JSON object")
        if body.get("model") != SERVED:
            return vllm_error(404, f"The model `{body.get('model')}` does not exist.",
                              "NotFoundError")
        problem, image = check_chat_request(body)
        if problem is not None or image is None:
            return vllm_error(400, problem or "no image")
        seen.image_format, seen.image_size = image.format, image.size
        return self.respond(seen, index)

    @staticmethod
    def _write(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        if isinstance(reply.body, bytes):
            data, kind = reply.body, "text/plain"
        else:
            data, kind = json.dumps(reply.body, ensure_ascii=False).encode(), "application/json"
        headers = dict(reply.headers)
        kind = headers.pop("Content-Type", kind)
        try:
            handler.send_response(reply.status)
            handler.send_header("Content-Type", kind)
            handler.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except OSError:
            pass  # the client gave up (a read timeout): nothing left to answer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _QuietServer

    def do_POST(self) -> None:
        self.server.fake.handle(self)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    fake: FakeVllm

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out drop their connections; that is expected here.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


@pytest.fixture
def fake() -> Iterator[FakeVllm]:
    server = FakeVllm()
    yield server
    server.stop()


EngineFactory = Callable[..., VllmHunyuanEngine]


@pytest.fixture
def make_engine(fake: FakeVllm) -> Iterator[EngineFactory]:
    """Engines pointed at the fake server with millisecond backoff; closed afterwards."""
    engines: list[VllmHunyuanEngine] = []

    def make(**overrides: Any) -> VllmHunyuanEngine:
        options: dict[str, Any] = {
            "url": fake.url,
            "model": SERVED,
            "timeout": 5.0,
            "connect_timeout": 1.0,
            "retries": 2,
            "concurrency": 4,
            "max_tokens": 512,
            "backoff_base": 0.01,
            "backoff_max": 0.05,
        }
        options.update(overrides)
        engine = VllmHunyuanEngine(options.pop("url"), options.pop("model"), **options)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        engine.close()


def blank(width: int, height: int) -> Image.Image:
    return Image.new("RGB", (width, height), "white")


def bounds_of(line: Any) -> tuple[float, float, float, float]:
    x0, y0, x1, y1 = line.bounds()
    return (x0, y0, x1, y1)


# ---------------------------------------------------------------------------- the request


def test_request_is_the_chat_completion_vllm_expects(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    engine = make_engine(max_tokens=321)
    (lines,) = engine.recognize([blank(400, 300)])

    (seen,) = fake.seen
    assert (seen.method, seen.path) == ("POST", "/v1/chat/completions")
    assert seen.headers["content-type"] == "application/json"
    assert "authorization" not in seen.headers
    body = seen.body
    assert body is not None
    assert body["model"] == SERVED
    assert body["temperature"] == 0
    assert body["max_tokens"] == 321
    assert body["repetition_penalty"] == pytest.approx(1.08)
    assert body["skip_special_tokens"] is True
    assert body["stream"] is True
    assert body["messages"][0] == {"role": "system", "content": ""}
    assert [p["type"] for p in body["messages"][1]["content"]] == ["image_url", "text"]
    assert body["messages"][1]["content"][1]["text"] == SPOTTING_PROMPT
    assert (seen.image_format, seen.image_size) == ("PNG", (400, 300))
    (line,) = lines
    assert line.text == "全网第一"


def test_when_an_api_key_is_set_then_it_is_sent_as_a_bearer_token(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    fake.api_key = "sk-adreview-test"
    engine = make_engine(api_key="sk-adreview-test")
    assert engine.recognize([blank(100, 100)])[0][0].text == "全网第一"
    assert fake.seen[0].headers["authorization"] == "Bearer sk-adreview-test"


def test_when_the_api_key_is_wrong_then_the_request_error_says_so_without_retrying(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    fake.api_key = "sk-right"
    engine = make_engine(api_key="sk-wrong", retries=3)
    with pytest.raises(OcrRequestError, match=r"HTTP 401: Unauthorized"):
        engine.recognize([blank(100, 100)])
    assert len(fake.seen) == 1


def test_when_an_image_is_large_then_it_goes_as_jpeg_and_boxes_use_its_own_size(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    width, height = 1600, 1200
    assert width * height > PNG_MAX_PIXELS
    (lines,) = make_engine().recognize([blank(width, height)])
    (seen,) = fake.chats
    assert (seen.image_format, seen.image_size) == ("JPEG", (width, height))
    assert bounds_of(lines[0]) == pytest.approx((160, 240, 480, 312), abs=1)


def test_when_an_image_is_not_rgb_then_it_is_sent_as_rgb(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    make_engine().recognize([Image.new("RGBA", (120, 80), (255, 0, 0, 0))])
    (seen,) = fake.chats
    assert seen.image_size == (120, 80)


# ------------------------------------------------------------------------------- batches


def test_a_batch_of_three_images_gets_three_results_in_order_in_original_pixels(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    sizes = [(1000, 500), (200, 800), (640, 480)]

    def respond(seen: Seen, index: int) -> Reply:
        assert seen.image_size is not None
        width, height = seen.image_size
        # the first image answers last, so order cannot come from arrival
        delay = {1000: 0.3, 200: 0.15, 640: 0.0}[width]
        return Reply(body=completion(f"图{width}x{height}(100,200),(300,260)"), delay=delay)

    fake.respond = respond
    results = make_engine(concurrency=3).recognize([blank(w, h) for w, h in sizes])

    assert [[line.text for line in lines] for lines in results] == [
        ["图1000x500"], ["图200x800"], ["图640x480"],
    ]
    for (width, height), (line,) in zip(sizes, results, strict=True):
        expected = (0.1 * width, 0.2 * height, 0.3 * width, 0.26 * height)
        assert bounds_of(line) == pytest.approx(expected, abs=1)


def test_requests_of_a_batch_are_in_flight_together(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    fake.respond = lambda seen, index: Reply(body=completion(CONTENT), delay=0.3)
    started = time.monotonic()
    results = make_engine(concurrency=4).recognize([blank(64, 64) for _ in range(4)])
    elapsed = time.monotonic() - started
    assert len(results) == 4
    assert fake.max_in_flight > 1
    assert elapsed < 4 * 0.3


def test_when_concurrency_is_one_then_requests_go_one_at_a_time(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    fake.respond = lambda seen, index: Reply(body=completion(CONTENT), delay=0.05)
    results = make_engine(concurrency=1).recognize([blank(64, 64) for _ in range(3)])
    assert len(results) == 3
    assert fake.max_in_flight == 1


def test_an_empty_batch_sends_nothing(fake: FakeVllm, make_engine: EngineFactory) -> None:
    assert make_engine().recognize([]) == []
    assert fake.seen == []


def test_when_one_image_of_a_batch_fails_then_the_batch_raises(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    def respond(seen: Seen, index: int) -> Reply:
        if seen.image_size == (66, 66):
            return vllm_error(400, "image too small for the processor")
        return Reply(body=completion(CONTENT))

    fake.respond = respond
    with pytest.raises(OcrRequestError, match="image too small"):
        make_engine().recognize([blank(64, 64), blank(66, 66), blank(68, 68)])


# ------------------------------------------------------------------------------- retries


@pytest.mark.parametrize("status", [503, 429, 502])
def test_when_the_server_fails_twice_then_the_third_attempt_succeeds(
    fake: FakeVllm, make_engine: EngineFactory, status: int
) -> None:
    fake.respond = lambda seen, index: (
        vllm_error(status, "busy", "ServiceUnavailableError") if index < 2
        else Reply(body=completion(CONTENT))
    )
    (lines,) = make_engine(retries=3).recognize([blank(100, 100)])
    assert [line.text for line in lines] == ["全网第一"]
    assert len(fake.chats) == 3


def test_when_the_server_always_fails_then_ocr_is_unavailable_after_every_retry(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    fake.respond = lambda seen, index: vllm_error(500, "EngineCore died", "InternalServerError")
    engine = make_engine(retries=2)
    with pytest.raises(OcrUnavailable) as caught:
        engine.recognize([blank(100, 100)])
    assert len(fake.chats) == 3
    message = str(caught.value)
    assert fake.url in message
    assert "HTTP 500" in message
    assert "EngineCore died" in message


def test_when_retry_after_is_given_then_the_client_waits_at_least_that_long(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    fake.respond = lambda seen, index: (
        Reply(429, {"object": "error", "message": "slow down"}, headers={"Retry-After": "0.2"})
        if index == 0 else Reply(body=completion(CONTENT))
    )
    started = time.monotonic()
    make_engine(retries=1, backoff_max=1.0).recognize([blank(100, 100)])
    assert time.monotonic() - started >= 0.2
    assert len(fake.chats) == 2


def test_retry_waits_grow_exponentially_with_full_jitter(make_engine: EngineFactory) -> None:
    engine = make_engine(backoff_base=0.1, backoff_max=0.5)
    for attempt, bound in [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.5), (6, 0.5)]:
        delays = [engine.retry_delay(attempt) for _ in range(200)]
        assert all(0.0 <= delay <= bound for delay in delays)
        assert max(delays) > 0.7 * bound
        assert min(delays) < 0.3 * bound
    assert engine.retry_delay(0, retry_after=0.3) >= 0.3
    assert engine.retry_delay(0, retry_after=60) <= 0.5


@pytest.mark.parametrize(
    "reply",
    [
        vllm_error(400, "Input prompt is too long: 9000 tokens > 8192"),
        Reply(400, {"error": {"message": "Input prompt is too long: 9000 tokens > 8192",
                              "type": "BadRequestError", "param": None, "code": 400}}),
    ],
    ids=["vllm-error-object", "openai-error-object"],
)
def test_when_the_server_refuses_the_request_then_it_fails_at_once_with_its_message(
    fake: FakeVllm, make_engine: EngineFactory, reply: Reply
) -> None:
    fake.respond = lambda seen, index: reply
    with pytest.raises(OcrRequestError) as caught:
        make_engine(retries=3).recognize([blank(100, 100)])
    assert len(fake.chats) == 1
    assert "HTTP 400" in str(caught.value)
    assert "Input prompt is too long: 9000 tokens > 8192" in str(caught.value)


def test_when_the_model_name_is_wrong_then_the_request_error_names_it(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    with pytest.raises(OcrRequestError, match=r"HTTP 404: The model `hunyuan-ocr` does not exist"):
        make_engine(model="hunyuan-ocr").recognize([blank(100, 100)])
    assert len(fake.seen) == 1


def test_when_nothing_listens_then_ocr_is_unavailable(make_engine: EngineFactory) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    with pytest.raises(OcrUnavailable) as caught:
        make_engine(url=url, retries=1).recognize([blank(100, 100)])
    assert url in str(caught.value)
    assert "ConnectError" in str(caught.value)


def test_when_the_server_answers_past_the_read_timeout_then_ocr_is_unavailable(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    fake.respond = lambda seen, index: Reply(body=completion(CONTENT), delay=3.0)
    started = time.monotonic()
    with pytest.raises(OcrUnavailable, match="ReadTimeout"):
        make_engine(timeout=0.2, retries=1).recognize([blank(100, 100)])
    assert time.monotonic() - started < 2.0
    assert len(fake.chats) == 2


# ------------------------------------------------------------------------------- replies


@pytest.mark.parametrize(
    "body",
    [
        b"<html>upstream proxy page</html>",
        {"id": "chatcmpl-1", "object": "chat.completion", "choices": []},
        {"id": "chatcmpl-1", "object": "chat.completion", "choices": [{"index": 0}]},
        {"object": "chat.completion", "choices": [{"message": {"content": ["not", "text"]}}]},
    ],
    ids=["not-json", "no-choices", "no-message", "content-not-text"],
)
def test_when_a_200_reply_is_not_a_chat_completion_then_it_is_an_ocr_error(
    fake: FakeVllm, make_engine: EngineFactory, body: Any
) -> None:
    fake.respond = lambda seen, index: Reply(body=body)
    with pytest.raises(OcrError) as caught:
        make_engine(retries=3).recognize([blank(100, 100)])
    assert not isinstance(caught.value, OcrUnavailable | OcrRequestError)
    assert fake.url in str(caught.value)
    assert len(fake.chats) == 1


def test_when_a_decode_runs_away_then_the_repetition_is_trimmed(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    runaway = CONTENT + "最佳(10,10),(20,20)" * 200 + "最佳(10,"
    fake.respond = lambda seen, index: Reply(body=completion(runaway, finish_reason="length"))
    (reading,) = make_engine().read([blank(1000, 1000)])
    lines = reading.lines
    assert [line.text for line in lines] == ["全网第一", "最佳"]
    assert bounds_of(lines[1]) == pytest.approx((10, 10, 20, 20))
    assert reading.truncated


def streamed(pieces: list[str], finish_reason: str = "stop") -> bytes:
    """A chat completion as vLLM streams it: server-sent events, one delta each."""
    events = [{"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": SERVED,
               "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                            "finish_reason": None}]}]
    events += [{"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": SERVED,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]}
               for piece in pieces]
    events.append({"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": SERVED,
                   "choices": [{"index": 0, "delta": {}, "finish_reason": finish_reason}]})
    lines = [f"data: {json.dumps(e, ensure_ascii=False)}\n\n" for e in events]
    return ("".join(lines) + "data: [DONE]\n\n").encode()


SSE = {"Content-Type": "text/event-stream"}


def test_a_streamed_reply_is_read_as_it_arrives(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    pieces = ["全网", "第一(100,200)", ",(300,260)", "限时特惠(0,0),(500,100)"]
    fake.respond = lambda seen, index: Reply(body=streamed(pieces), headers=SSE)
    (reading,) = make_engine().read([blank(1000, 1000)])
    assert [line.text for line in reading.lines] == ["全网第一", "限时特惠"]
    assert bounds_of(reading.lines[0]) == pytest.approx((100, 200, 300, 260))
    assert not reading.truncated


def test_a_streamed_reply_cut_at_the_cap_is_truncated(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    fake.respond = lambda seen, index: Reply(
        body=streamed(["全网第一(100,200),(300,260)", "最佳(1"], "length"), headers=SSE)
    (reading,) = make_engine().read([blank(1000, 1000)])
    assert reading.truncated
    assert [line.text for line in reading.lines] == ["全网第一"]


def test_a_stream_stuck_in_a_loop_is_abandoned_at_the_first_checkpoint_past_it() -> None:
    ordinary = [f"第{i}行(10,{i}),(20,{i})" for i in range(250)]
    loop = ["最佳(10,10),(20,20)"] * 3000
    response = httpx.Response(200, headers=SSE, content=streamed(ordinary + loop))
    text, finish, stopped = read_streamed(response, RepetitionStop())
    assert stopped
    assert finish is None
    full = len("".join(ordinary + loop))
    assert len(text) < full // 4
    assert text.endswith("最佳(10,10),(20,20)" * 8)


def test_an_error_event_in_the_stream_is_an_ocr_error(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    body = b'data: {"error": {"message": "engine dead"}}\n\n'
    fake.respond = lambda seen, index: Reply(body=body, headers=SSE)
    with pytest.raises(OcrError, match="engine dead"):
        make_engine(retries=0).read([blank(100, 100)])


def test_a_reply_that_finished_is_complete(fake: FakeVllm, make_engine: EngineFactory) -> None:
    (reading,) = make_engine().read([blank(1000, 1000)])
    assert [line.text for line in reading.lines] == ["全网第一"]
    assert not reading.truncated


def test_a_reply_that_ends_stuck_in_a_loop_is_truncated_even_when_the_server_stopped(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    # Past the stop's first checkpoint (4,000 characters) and eight copies at the tail.
    ordinary = "".join(f"第{i}行(10,{i % 1000}),(20,{i % 1000})" for i in range(250))
    stuck = ordinary + "最佳(10,10),(20,20)" * 20
    fake.respond = lambda seen, index: Reply(body=completion(stuck, finish_reason="stop"))
    (reading,) = make_engine().read([blank(1000, 1000)])
    assert reading.truncated
    assert reading.lines[-1].text == "最佳"


def test_a_short_reply_with_repeated_characters_is_not_taken_for_a_loop(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    dotted = "价格" + "." * 40 + "99元(10,10),(900,60)"
    fake.respond = lambda seen, index: Reply(body=completion(dotted))
    (reading,) = make_engine().read([blank(1000, 1000)])
    assert not reading.truncated


def test_when_the_reply_says_there_is_no_text_then_there_are_no_lines(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    fake.respond = lambda seen, index: Reply(body=completion(""))
    assert make_engine().recognize([blank(100, 100)]) == [[]]


# ------------------------------------------------------------------ wiring and health


def test_from_settings_uses_the_vllm_settings(fake: FakeVllm) -> None:
    fake.api_key = "sk-settings"
    settings = Settings(
        vllm_url=fake.url + "/",
        vllm_model=SERVED,
        vllm_api_key="sk-settings",
        vllm_retries=0,
        vllm_concurrency=2,
        hunyuan_max_new_tokens=77,
        hunyuan_revision="0123abc",
    )
    engine = create_engine("hunyuan-vllm", settings)
    assert isinstance(engine, VllmHunyuanEngine)
    with engine:
        assert engine.name == "hunyuan-vllm"
        assert engine.version.startswith(f"vllm:{SERVED}@0123abc|max_tokens=77,")
        assert engine.concurrency == 2
        engine.recognize([blank(50, 50)])
    (seen,) = fake.seen
    assert seen.path == "/v1/chat/completions"
    assert seen.body is not None and seen.body["max_tokens"] == 77


def test_version_without_a_revision_is_the_served_model(make_engine: EngineFactory) -> None:
    assert make_engine().version.split("|")[0] == f"vllm:{SERVED}"
    assert VllmHunyuanEngine.is_available() is True


@pytest.mark.parametrize("change", [{"max_tokens": 4096}, {"max_pixels": 1024 * 1024}])
def test_the_version_changes_with_the_generation_settings(
    make_engine: EngineFactory, change: dict[str, Any]
) -> None:
    assert make_engine(**change).version != make_engine().version


def test_the_defaults_follow_tencents_client() -> None:
    with VllmHunyuanEngine("http://127.0.0.1:9/v1", SERVED) as engine:
        assert engine.max_tokens == 8192
        assert engine.whole_image() == WholeImage(2048 * 2048)
    assert Settings().hunyuan_max_new_tokens == 8192


def test_health_lists_the_served_models(fake: FakeVllm, make_engine: EngineFactory) -> None:
    assert make_engine().health() == [SERVED]
    assert (fake.seen[0].method, fake.seen[0].path) == ("GET", "/v1/models")


def test_when_the_configured_model_is_not_served_then_health_says_what_is(
    make_engine: EngineFactory,
) -> None:
    with pytest.raises(EngineUnavailable, match=r"serves: tencent/HunyuanOCR"):
        make_engine(model="other").health()


def test_the_reader_sends_a_banner_whole_and_a_page_past_max_pixels_in_tiles(
    fake: FakeVllm, make_engine: EngineFactory
) -> None:
    from models.images import DecodedImage
    from models.reader import read_text

    engine = make_engine(max_pixels=1000 * 1000)
    banner = blank(728, 90)
    read_text(engine, DecodedImage((banner,), banner.size, "PNG", 1, (0,)), Settings())
    assert [seen.image_size for seen in fake.chats] == [(728, 90)]
    page = blank(750, 3000)
    read_text(engine, DecodedImage((page,), page.size, "PNG", 1, (0,)), Settings())
    sizes = [seen.image_size for seen in fake.chats[1:]]
    assert len(sizes) > 1
    assert all(size is not None and size[0] == 750 and size[0] * size[1] <= 1000 * 1000
               for size in sizes)
