"""The ASGI app: OpenAI-compatible ``/v1/completions`` and ``/v1/models``, ``/health``, ``/ready``.

Generation runs on one worker thread (torch uses the cores itself; two generations at once
only fight for them); requests beyond ``max_queue`` waiting ones get 429. Every response
carries ``X-Hubmgr-Release``: the release that produced it (or the live one). Errors are
OpenAI-style JSON (``{"error": {"message", "type", "param", "code"}}``), never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from .generation import SHORT_SHA, GenParams, LoadedModel, encode, generate
from .model_pool import ModelPool

RELEASE_HEADER = "x-hubmgr-release"
MAX_N = 16
MAX_STOP = 4
_UNSUPPORTED = ("logprobs", "best_of", "suffix", "echo", "logit_bias")


class ApiError(Exception):
    def __init__(self, status: int, message: str, *, type_: str = "invalid_request_error", param: str | None = None,
                 code: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def _bad(message: str, param: str | None = None, code: str | None = None) -> ApiError:
    return ApiError(400, message, param=param, code=code)


def _number(body: dict, name: str, default: float, lo: float, hi: float, *, integer: bool = False) -> Any:
    value = body.get(name)
    if value is None:
        return default
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or not lo <= value <= hi:
        kind = "an integer" if integer else "a number"
        raise _bad(f"'{name}' must be {kind} between {lo:g} and {hi:g}, got {value!r}", name)
    return value


def parse_completion_request(body: Any) -> tuple[list[str], GenParams, bool, str | None]:
    """(prompts, params, stream, model asked) from a ``/v1/completions`` body; ``ApiError`` 400 if invalid."""
    if not isinstance(body, dict):
        raise _bad("the request body must be a JSON object")
    prompt = body.get("prompt")
    if isinstance(prompt, str):
        prompts = [prompt]
    elif isinstance(prompt, list) and prompt and all(isinstance(p, str) for p in prompt):
        prompts = list(prompt)
    elif prompt is None:
        raise _bad("'prompt' is required: a string or a non-empty list of strings", "prompt")
    else:  # token-id prompts (lists of ints) are valid OpenAI input that this server does not take
        raise _bad("'prompt' must be a string or a non-empty list of strings", "prompt")
    for name in _UNSUPPORTED:
        if body.get(name) not in (None, False, 0, {}):
            raise _bad(f"'{name}' is not supported by hubmgr serve", name)
    stop = body.get("stop")
    if stop is None:
        stops: tuple[str, ...] = ()
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, list) and len(stop) <= MAX_STOP and all(isinstance(s, str) for s in stop):
        stops = tuple(stop)
    else:
        raise _bad(f"'stop' must be a string or a list of up to {MAX_STOP} strings", "stop")
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise _bad("'seed' must be an integer", "seed")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise _bad("'stream' must be true or false", "stream")
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise _bad("'model' must be a string", "model")
    params = GenParams(
        max_tokens=_number(body, "max_tokens", 16, 0, 1 << 20, integer=True),
        temperature=float(_number(body, "temperature", 1.0, 0.0, 2.0)),
        top_p=float(_number(body, "top_p", 1.0, 0.0, 1.0)),
        n=_number(body, "n", 1, 1, MAX_N, integer=True), stop=stops, seed=seed)
    if params.top_p == 0:
        raise _bad("'top_p' must be greater than 0", "top_p")
    return prompts, params, stream, model


def check_model_name(asked: str | None, lm: LoadedModel) -> None:
    """Accept the live id, its source (always "whatever is live") or no name."""
    if asked in (None, "", lm.model_id, lm.source, lm.sha, lm.sha[:SHORT_SHA]):
        return
    raise ApiError(404, f"the model '{asked}' does not exist; this server serves {lm.model_id} "
                        f"(or ask for '{lm.source}' to get whatever release is live)",
                   param="model", code="model_not_found")


def check_context(lm: LoadedModel, prompts: list[str], params: GenParams) -> list[list[int]]:
    """Each prompt's token ids; 400 ``context_length_exceeded`` when a prompt + max_tokens does not fit."""
    encoded = []
    for p in prompts:
        ids = encode(lm, p)
        encoded.append(ids)
        n_prompt = len(ids)
        if n_prompt + params.max_tokens > lm.context_length:
            raise _bad(f"This model's maximum context length is {lm.context_length} tokens, however you requested "
                       f"{n_prompt + params.max_tokens} tokens ({n_prompt} in your prompt; {params.max_tokens} for the "
                       "completion). Please reduce your prompt; or completion length.", "prompt",
                       "context_length_exceeded")
    return encoded


class CompletionService:
    """Admission (bounded queue), the generation thread, and the response bodies."""

    def __init__(self, pool: ModelPool, *, max_queue: int, executor: Any = None) -> None:
        self.pool = pool
        self.max_queue = max_queue
        self.admitted = 0  # running + waiting; only touched on the event loop
        # anything with submit(fn) -> concurrent Future running one call at a time
        self.executor = executor or ThreadPoolExecutor(max_workers=1, thread_name_prefix="hubmgr-generate")

    def admit(self) -> None:
        if self.admitted >= self.max_queue + 1:
            raise ApiError(429, f"server busy: {self.admitted - 1} requests already waiting (--max-queue "
                                f"{self.max_queue}); retry shortly", type_="rate_limit_error",
                           code="rate_limit_exceeded")
        self.admitted += 1

    def done(self) -> None:
        self.admitted -= 1

    @staticmethod
    def envelope(lm: LoadedModel, cid: str, created: int, choices: list[dict]) -> dict:
        return {"id": cid, "object": "text_completion", "created": created, "model": lm.model_id,
                "choices": choices}

    def submit(self, fn: Callable[[], Any], finished: Callable[[], None]) -> asyncio.Future:
        """Queue ``fn`` on the generation thread; ``finished`` runs on the loop once it is really over
        (a cancelled await does not stop a running generation, so the lease is kept until then)."""
        loop = asyncio.get_running_loop()
        result = loop.create_future()

        def settle(cf: Any) -> None:  # on the loop: one wake-up per request (wrap_future + a callback made two)
            finished()
            if result.done():
                return
            if cf.cancelled():
                result.cancel()
            elif cf.exception() is not None:
                result.set_exception(cf.exception())
            else:
                result.set_result(cf.result())

        cf = self.executor.submit(fn)
        cf.add_done_callback(lambda f: loop.call_soon_threadsafe(settle, f))
        # the request went away before its turn: do not generate for nobody
        result.add_done_callback(lambda f: cf.cancel() if f.cancelled() else None)
        return result

    async def complete(self, lm: LoadedModel, encoded: list[list[int]], params: GenParams,
                       finished: Callable[[], None]) -> dict:
        choices = await self.submit(lambda: generate(lm, encoded, params), finished)
        used = sum(c.tokens for c in choices)
        n_prompt = sum(len(ids) for ids in encoded)
        doc = self.envelope(lm, f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time()), [
            {"text": c.text, "index": c.index, "logprobs": None, "finish_reason": c.finish_reason} for c in choices])
        doc["usage"] = {"prompt_tokens": n_prompt * params.n, "completion_tokens": used,
                        "total_tokens": n_prompt * params.n + used}
        return doc

    def stream(self, lm: LoadedModel, encoded: list[list[int]], params: GenParams, finished: Callable[[], None]):
        """Start generating now; return the SSE body (OpenAI chunks, then ``data: [DONE]``).

        ``finished`` runs when generation ends, even if the client leaves before reading anything:
        the lease of an old release is returned only when the model is no longer computing.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancelled = threading.Event()
        cid, created = f"cmpl-{uuid.uuid4().hex[:24]}", int(time.time())

        def put(item: tuple) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def run() -> None:
            try:
                put(("end", generate(lm, encoded, params, on_delta=lambda i, t: put(("delta", i, t)),
                                     cancelled=cancelled), None))
            except Exception as exc:  # noqa: BLE001 - reported to the client as an error event
                put(("error", exc, None))

        def chunk(index: int, text: str, finish: str | None) -> bytes:
            doc = self.envelope(lm, cid, created, [{"text": text, "index": index, "logprobs": None,
                                                    "finish_reason": finish}])
            return b"data: " + json.dumps(doc).encode() + b"\n\n"

        self.submit(run, finished)

        async def body():
            try:
                while True:
                    kind, a, b = await queue.get()
                    if kind == "delta":
                        yield chunk(a, b, None)
                    elif kind == "end":
                        for c in a:
                            yield chunk(c.index, "", c.finish_reason)
                        break
                    else:
                        err = ApiError(500, f"generation failed: {a}", type_="server_error")
                        yield b"data: " + json.dumps(err.body()).encode() + b"\n\n"
                        break
                yield b"data: [DONE]\n\n"
            finally:
                cancelled.set()  # the client went away: stop generating for nobody

        return body()


def _once(fn: Callable[[], None]) -> Callable[[], None]:
    done = False

    def call() -> None:
        nonlocal done
        if not done:
            done = True
            fn()
    return call


def build_app(pool: ModelPool, *, max_queue: int = 64, log: Callable[[str], None] = print, executor: Any = None):
    """The Starlette app over ``pool`` (which the caller starts and stops)."""
    from starlette.applications import Starlette
    from starlette.exceptions import HTTPException
    from starlette.requests import Request
    from starlette.responses import JSONResponse, StreamingResponse
    from starlette.routing import Route

    service = CompletionService(pool, max_queue=max_queue, executor=executor)

    def error(exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    async def health(request: Request) -> JSONResponse:
        live = pool.live
        return JSONResponse({"status": "ok", "release": live.sha if live else None, "resident": list(pool.resident),
                             "queued": service.admitted})

    async def ready(request: Request) -> JSONResponse:
        live = pool.live
        if live is None:
            return JSONResponse({"ready": False, "release": None, "error": {
                "message": "no release loaded yet", "type": "server_error", "param": None, "code": None}},
                status_code=503)
        return JSONResponse({"ready": True, "release": live.sha, "model": live.model_id})

    async def models(request: Request) -> JSONResponse:
        live = pool.live
        data = [] if live is None else [{"id": live.model_id, "object": "model", "created": int(
            live.path.stat().st_mtime), "owned_by": "hubmgr", "root": live.source, "release": live.sha,
            "context_length": live.context_length}]
        return JSONResponse({"object": "list", "data": data})

    async def completions(request: Request):
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return error(_bad("the request body is not valid JSON"))
        try:
            prompts, params, stream, asked = parse_completion_request(body)
            service.admit()
        except ApiError as exc:
            return error(exc)
        lm = pool.acquire()
        if lm is None:
            service.done()
            return error(ApiError(503, "no release loaded yet; see GET /ready", type_="server_error"))

        def give_back() -> None:
            pool.release(lm)
            service.done()
        finished = _once(give_back)
        headers = {RELEASE_HEADER: lm.sha}
        try:
            check_model_name(asked, lm)
            encoded = check_context(lm, prompts, params)
        except BaseException as exc:
            finished()  # nothing was queued: give the lease back now
            if not isinstance(exc, ApiError):
                raise
            response = error(exc)
            response.headers[RELEASE_HEADER] = lm.sha
            return response
        # from here the generation thread's callback gives the lease back when generation really ends
        if stream:
            return StreamingResponse(service.stream(lm, encoded, params, finished), headers=headers,
                                     media_type="text/event-stream")
        doc = await service.complete(lm, encoded, params, finished)
        return JSONResponse(doc, headers=headers)

    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return error(ApiError(exc.status_code, str(exc.detail), code=None))

    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        log(f"error: {type(exc).__name__}: {exc}")
        return error(ApiError(500, f"internal error ({type(exc).__name__}); see the server log", type_="server_error"))

    app = Starlette(routes=[
        Route("/health", health), Route("/ready", ready), Route("/v1/models", models),
        Route("/v1/completions", completions, methods=["POST"]),
    ], exception_handlers={HTTPException: http_error, Exception: internal_error})
    app.state.service = service
    return RequestLog(app, pool, log)


class RequestLog:
    """ASGI middleware: one log line per request, and ``X-Hubmgr-Release`` on every response."""

    def __init__(self, app: Any, pool: ModelPool, log: Callable[[str], None]) -> None:
        self.app, self.pool, self.log = app, pool, log

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        t0 = time.perf_counter()
        seen: dict[str, Any] = {"status": 0, "release": "-"}

        async def send_logged(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                release = next((v.decode() for k, v in headers if k == RELEASE_HEADER.encode()), None)
                if release is None:
                    live = self.pool.live
                    release = live.sha if live else "none"
                    headers.append((RELEASE_HEADER.encode(), release.encode()))
                    message = {**message, "headers": headers}
                seen.update(status=message["status"], release=release)
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                ms = (time.perf_counter() - t0) * 1000
                self.log(f"{scope['method']} {scope['path']} {seen['status']} {ms:.1f}ms "
                         f"release={seen['release'][:SHORT_SHA]}")

        await self.app(scope, receive, send_logged)
