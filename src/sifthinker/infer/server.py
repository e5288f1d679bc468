"""``sifthinker serve``: an OpenAI-compatible chat-completions server for a SIFThinker checkpoint (HF backend).

Routes: ``POST /v1/chat/completions`` (text, and images as ``data:`` URLs or paths under ``--image-root``),
``GET /v1/models``, ``GET /health``. Built on Starlette and uvicorn (the ``serve`` extra). It binds 127.0.0.1 by
default and warns when told to bind beyond loopback. One thread owns the model and serves a bounded queue in
batches, each request decoded with its own options (nothing shared is changed); a full queue answers 503 with
``Retry-After``. Every request that cannot be served gets a 4xx JSON error and the server goes on: bytes that are
not UTF-8 JSON, nesting or numbers past the parser's limits, wrong field types, bodies over the byte cap, too many
or too large images, a missing or wrong API key (``Authorization: Bearer``, compared in constant time). Slow or idle
clients are cut off: a request head must arrive within ``header_timeout_s``, a body within ``body_timeout_s``, and
a kept-alive connection is closed after ``keep_alive_s`` of silence.

For GPU throughput, serve the checkpoint with vLLM's own OpenAI-compatible server instead
(``vllm serve CHECKPOINT --limit-mm-per-prompt '{"image": 2}'``): the data engine's writer, the judge and the
evaluation harness speak the same API to either. Request parsing lives in :mod:`.chat_request`, binding and the
uvicorn timeouts in :mod:`.transport`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import astuple, dataclass, field
from typing import Any

try:
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import ClientDisconnect, Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route
except ImportError as e:  # pragma: no cover - the optional extra is missing
    raise ImportError("the server needs the 'serve' extra: pip install 'sifthinker[serve]'") from e

from .chat_request import ChatLimits, ChatRequest, RequestError, parse_chat_body
from .transport import bind_socket, bind_warning, error_doc, is_loopback, make_uvicorn

__all__ = ["ServeConfig", "SIFServer", "bind_warning", "is_loopback"]

logger = logging.getLogger(__name__)


@dataclass
class ServeConfig:
    """Limits and options of the server (``port=0`` picks a free port)."""

    host: str = "127.0.0.1"
    port: int = 8000
    model_name: str = "sifthinker"
    image_root: str | None = None  # image paths in requests must resolve inside it; None refuses paths
    max_request_bytes: int = 32 * 1024 * 1024
    max_images: int = 8
    max_image_pixels: int = 4096 * 4096
    max_new_tokens: int = 2048
    queue_size: int = 64  # requests waiting for the model; one more gets 503 + Retry-After
    batch_size: int = 4
    request_timeout_s: float = 600.0  # queueing plus generation; 504 after it
    api_key: str | None = field(default=None, repr=False)  # None: no key asked; never printed or logged
    header_timeout_s: float = 10.0  # a new (or kept-alive) connection must send a whole request head within it
    body_timeout_s: float = 30.0  # the body must arrive within it once the head has (408 otherwise)
    keep_alive_s: float = 5.0  # an idle kept-alive connection is closed after it
    backlog: int = 2048  # the listen queue (the kernel caps it at net.core.somaxconn)
    max_connections: int = 1024  # beyond it, requests get 503 at once
    max_header_bytes: int = 16 * 1024  # a longer request head is a 400
    parse_threads: int = 2  # JSON and image decoding run here, beside the event loop

    def __post_init__(self) -> None:
        for name in ("max_request_bytes", "max_images", "max_image_pixels", "max_new_tokens", "queue_size",
                     "batch_size", "backlog", "max_connections", "max_header_bytes", "parse_threads"):  # fmt: skip
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"serve: {name} must be an integer >= 1, got {value!r}")
        for name in ("request_timeout_s", "header_timeout_s", "body_timeout_s", "keep_alive_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"serve: {name} must be > 0 seconds, got {getattr(self, name)!r}")
        if not 0 <= self.port <= 65535:
            raise ValueError(f"serve: port must lie in [0, 65535], got {self.port}")
        if self.api_key is not None and (not isinstance(self.api_key, str) or not self.api_key.strip()):
            raise ValueError("serve: api_key must be a non-empty string when given (the value is not shown)")


class _GenerationFailed(Exception):
    pass


@dataclass
class _Job:
    request: ChatRequest
    future: asyncio.Future  # (text, prompt_tokens, completion_tokens); cancelled when the client gave up waiting


class SIFServer:
    """The server around a :class:`~sifthinker.infer.engine.SIFThinker` (only its ``generate`` is used).

    ``start()`` serves from a background thread (tests, benchmarks; a context manager too), ``serve_forever()``
    from the calling thread until Ctrl-C or SIGTERM.
    """

    def __init__(self, thinker, config: ServeConfig | None = None) -> None:
        self.thinker = thinker
        self.cfg = config or ServeConfig()
        default = getattr(thinker, "generation", None)
        self.limits = ChatLimits(
            image_root=self.cfg.image_root, max_images=self.cfg.max_images, max_image_pixels=self.cfg.max_image_pixels,
            max_new_tokens=self.cfg.max_new_tokens, seed=getattr(default, "seed", 0),
        )  # fmt: skip
        self.stats = {"requests": 0, "completions": 0, "client_errors": 0, "server_errors": 0, "rejected_busy": 0}
        table = [("/health", self._health, "GET"), ("/v1/health", self._health, "GET"),
                 ("/v1/models", self._models, "GET"), ("/v1/chat/completions", self._chat, "POST")]  # fmt: skip
        self.app = Starlette(
            routes=[Route(path + end, fn, methods=[method]) for path, fn, method in table for end in ("", "/")],
            exception_handlers={HTTPException: self._http_error, Exception: self._crash},
            lifespan=self._lifespan,
        )
        self._queue: asyncio.Queue[_Job] | None = None
        self._model_thread: ThreadPoolExecutor | None = None
        self._parse_pool: ThreadPoolExecutor | None = None
        self._server: Any = None  # the uvicorn server
        self._thread: threading.Thread | None = None
        self._address: tuple[str, int] | None = None

    # ------------------------------------------------------------------------------------------------ model

    @contextlib.asynccontextmanager
    async def _lifespan(self, app):
        self._queue = asyncio.Queue(self.cfg.queue_size)
        self._model_thread = ThreadPoolExecutor(1, thread_name_prefix="sif-generate")  # the one owner of the model
        self._parse_pool = ThreadPoolExecutor(self.cfg.parse_threads, thread_name_prefix="sif-parse")
        consumer = asyncio.create_task(self._consume(), name="sif-batches")
        try:
            yield
        finally:
            consumer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await consumer
            while not self._queue.empty():
                job = self._queue.get_nowait()
                if not job.future.done():
                    job.future.set_exception(_GenerationFailed("the server is shutting down"))
            self._model_thread.shutdown(wait=False, cancel_futures=True)
            self._parse_pool.shutdown(wait=False, cancel_futures=True)

    async def _consume(self) -> None:
        """Take up to ``batch_size`` waiting requests, generate once per group of equal decoding options."""
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self.cfg.batch_size and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            groups: dict[tuple, list[_Job]] = {}
            for job in batch:
                if not job.future.done():  # a request whose client stopped waiting is not generated
                    key = (astuple(job.request.generation), bool(job.request.images))
                    groups.setdefault(key, []).append(job)
            for jobs in groups.values():
                try:
                    texts, usage = await loop.run_in_executor(self._model_thread, self._generate, jobs)
                except Exception as e:  # a model failure answers 500 to these requests; the server goes on
                    logger.exception("generation failed for a batch of %d", len(jobs))
                    for j in jobs:
                        if not j.future.done():
                            j.future.set_exception(_GenerationFailed(f"{type(e).__name__}: {e}"))
                    continue
                for j, text, (n_prompt, n_completion) in zip(jobs, texts, usage, strict=True):
                    if not j.future.done():
                        j.future.set_result((text, n_prompt, n_completion))

    def _generate(self, jobs: list[_Job]):
        reqs = [j.request for j in jobs]
        return self.thinker.generate([r.messages for r in reqs], [r.images for r in reqs], return_usage=True,
                                     generation=reqs[0].generation)  # fmt: skip

    # ------------------------------------------------------------------------------------------------- http

    def _error(self, status: int, message: str, kind: str = "invalid_request_error", headers=None) -> JSONResponse:
        self.stats["client_errors" if status < 500 else "server_errors"] += 1
        return JSONResponse(error_doc(status, message, kind), status, headers=headers)

    def _busy(self) -> JSONResponse:
        self.stats["rejected_busy"] += 1
        return self._error(503, "the server is busy; retry later", "server_busy", {"Retry-After": "1"})

    async def _http_error(self, request: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"no route {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        return self._error(exc.status_code, message, headers=exc.headers)

    async def _crash(self, request: Request, exc: Exception) -> JSONResponse:
        return self._error(500, f"internal error: {type(exc).__name__}", "server_error")

    def _denied(self, request: Request) -> JSONResponse | None:
        key = self.cfg.api_key
        if key is None:
            return None
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), key.encode()):
            return None
        return self._error(401, "a valid API key is required: send 'Authorization: Bearer <key>'",
                           "authentication_error", {"WWW-Authenticate": "Bearer"})  # fmt: skip

    async def _health(self, request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "model": self.cfg.model_name, "queued": self._queue.qsize()})

    async def _models(self, request: Request) -> JSONResponse:
        if (denied := self._denied(request)) is not None:
            return denied
        return JSONResponse({"object": "list", "data": [
            {"id": self.cfg.model_name, "object": "model", "created": 0, "owned_by": "sifthinker"}]})  # fmt: skip

    def _declared_length(self, request: Request) -> int | None:
        """The Content-Length (None for a chunked body), refusing a missing one or one over the cap."""
        limit = self.cfg.max_request_bytes
        declared = request.headers.get("content-length")
        if declared is None:
            if "chunked" not in request.headers.get("transfer-encoding", "").lower():
                raise RequestError(411, "a Content-Length header is required")
            return None
        n = int(declared)  # h11 has refused a Content-Length that is not digits
        if n > limit:
            raise RequestError(413, f"request of {n} bytes exceeds {limit}")
        return n

    async def _read_body(self, request: Request) -> bytes:
        limit = self.cfg.max_request_bytes

        async def collect() -> bytes:
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise RequestError(413, f"request of more than {limit} bytes exceeds {limit}")
                chunks.append(chunk)
            return b"".join(chunks)

        try:
            return await asyncio.wait_for(collect(), self.cfg.body_timeout_s)
        except TimeoutError:
            raise RequestError(408, f"the request body did not arrive within {self.cfg.body_timeout_s:g} s",
                               "timeout") from None  # fmt: skip
        except ClientDisconnect:
            raise RequestError(400, "the client disconnected before the end of the body") from None

    async def _discard_body(self, request: Request) -> bool:
        """Read and drop the body of a request refused early, so that the client, still sending, gets to read the
        reply (closing on unread bytes resets the connection); False if it was too long or too slow for that."""
        left = 4 * self.cfg.max_request_bytes

        async def drain() -> bool:
            nonlocal left
            async for chunk in request.stream():
                left -= len(chunk)
                if left < 0:
                    return False
            return True

        try:
            return await asyncio.wait_for(drain(), self.cfg.body_timeout_s)
        except (TimeoutError, ClientDisconnect):
            return False

    async def _refuse(self, request: Request, reply: JSONResponse) -> JSONResponse:
        if not await self._discard_body(request):
            reply.headers["Connection"] = "close"
        return reply

    async def _chat(self, request: Request) -> JSONResponse:
        self.stats["requests"] += 1
        if (denied := self._denied(request)) is not None:
            return await self._refuse(request, denied)
        try:
            self._declared_length(request)
        except RequestError as e:
            reply = self._error(e.status, str(e), e.kind)
            if e.status == 413 and int(request.headers["content-length"]) <= 4 * self.cfg.max_request_bytes:
                return await self._refuse(request, reply)
            reply.headers["Connection"] = "close"  # far over the cap (or unframed): not read through
            return reply
        if self._queue.full():
            return await self._refuse(request, self._busy())  # before the body is kept: a burst costs no memory
        try:
            raw = await self._read_body(request)
        except RequestError as e:
            return self._error(e.status, str(e), e.kind, {"Connection": "close"})
        loop = asyncio.get_running_loop()
        try:
            req = await loop.run_in_executor(self._parse_pool, parse_chat_body, raw, self.limits)
        except RequestError as e:
            return self._error(e.status, str(e), e.kind)
        job = _Job(req, loop.create_future())
        try:
            self._queue.put_nowait(job)
        except asyncio.QueueFull:
            return self._busy()
        try:
            text, n_prompt, n_completion = await asyncio.wait_for(job.future, self.cfg.request_timeout_s)
        except TimeoutError:
            return self._error(504, "generation timed out", "timeout")
        except _GenerationFailed as e:
            return self._error(500, f"generation failed: {e}", "server_error")
        self.stats["completions"] += 1
        return JSONResponse({
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": req.model or self.cfg.model_name,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": n_prompt, "completion_tokens": n_completion,
                      "total_tokens": n_prompt + n_completion},
        })  # fmt: skip

    # ------------------------------------------------------------------------------------------- lifecycle

    def _bind(self) -> socket.socket:
        sock = bind_socket(self.cfg.host, self.cfg.port, has_api_key=self.cfg.api_key is not None)
        self._address = sock.getsockname()[:2]
        return sock

    def start(self) -> SIFServer:
        """Bind and serve from a background thread; returns once connections are accepted (see :attr:`base_url`)."""
        if self._thread is not None:
            raise RuntimeError("serve: the server is already started")
        sock = self._bind()
        ready = threading.Event()
        self._server = make_uvicorn(self.app, self.cfg, ready.set)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]}, name="sif-http",
                                        daemon=True)  # fmt: skip
        self._thread.start()
        while not ready.wait(0.05):
            if not self._thread.is_alive():
                self._thread = None
                sock.close()
                raise RuntimeError("serve: the server stopped while starting (see the log)")
        logger.info("serving %s on %s", self.cfg.model_name, self.url)
        return self

    def serve_forever(self, on_ready: Callable[[], None] | None = None) -> None:
        """Bind and serve from this thread until Ctrl-C or SIGTERM; ``on_ready()`` runs once it accepts."""
        sock = self._bind()
        self._server = make_uvicorn(self.app, self.cfg, on_ready or (lambda: None))
        with contextlib.suppress(KeyboardInterrupt):
            self._server.run(sockets=[sock])

    @property
    def url(self) -> str:
        """``http://HOST:PORT`` of the bound socket."""
        if self._address is None:
            raise RuntimeError("the server is not started")
        host, port = self._address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        """The OpenAI base URL (``.../v1``)."""
        return self.url + "/v1"

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
            self._thread = None

    def __enter__(self) -> SIFServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
