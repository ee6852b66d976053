"""`create_app(settings)`: the FastAPI app of the service.

    POST /predict         images (multipart `files`, or JSON `{"images": [base64, ...]}`), optional
                          `model` and `allowed`: per image its text, confidence, characters, ms
    GET  /models          the loaded models: family, charset, input size, lengths, shipped scores
    POST /models/reload   load runs added to --models-dir since start-up
    GET  /health          liveness and the loaded models
    GET  /docs            the OpenAPI page

The models load once, when the app starts (lifespan). Image decoding, the
models and decoding run in a bounded pool of worker threads, never on the
event loop.
"""

import asyncio
import concurrent.futures
import contextlib
import hmac
import logging
import time

import numpy as np
from fastapi import Depends
from fastapi import FastAPI
from fastapi import Request
from fastapi.middleware.cors import CORSMiddleware

from captcha_keras import __version__
from captcha_keras.images import ImageError
from captcha_keras.images import ImageTooLarge
from captcha_keras.serving import errors
from captcha_keras.serving.batching import Batcher
from captcha_keras.serving.errors import ApiError
from captcha_keras.serving.limits import BodyLimit
from captcha_keras.serving.registry import ModelRegistry
from captcha_keras.serving.settings import API_KEY_HEADER
from captcha_keras.serving.uploads import parse_request

LOG = logging.getLogger("captcha_keras.serving")

PREDICT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "properties": {
                    "files": {"type": "array", "items": {"type": "string", "format": "binary"}},
                    "model": {"type": "string"},
                    "allowed": {"type": "string", "description": "characters a reading may use"},
                },
                "required": ["files"],
            }
        },
        "application/json": {
            "schema": {
                "type": "object",
                "properties": {
                    "images": {"type": "array", "items": {"type": "string", "format": "byte"}},
                    "model": {"type": "string"},
                    "allowed": {"type": "string"},
                },
                "required": ["images"],
            }
        },
    },
}


class RequestLog:
    """ASGI middleware: one log line per request: method, path, status, images, milliseconds."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started, status = time.perf_counter(), [500]
        scope.setdefault("state", {})

        async def record(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            images = scope["state"].get("images", 0)
            LOG.info("%s %s %d images=%d %.1f ms", scope["method"], scope["path"], status[0], images,
                     (time.perf_counter() - started) * 1000)


def create_app(settings, registry=None):
    """The app for `settings` (`ServeSettings`); `registry` replaces the one it would load."""
    executor = concurrent.futures.ThreadPoolExecutor(settings.workers, thread_name_prefix="captcha-keras")
    registry = registry or ModelRegistry(
        settings.models_dir, settings.models, settings.default_model,
        decoder=settings.decoder, max_pixels=settings.max_pixels, formats=settings.formats,
    )
    batchers = {}

    @contextlib.asynccontextmanager
    async def lifespan(app):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(executor, registry.load)
        if not registry.readers:
            problems = "; ".join(f"{k}: {v}" for k, v in registry.failed.items())
            raise RuntimeError(f"No model to serve in {settings.models_dir!r}{': ' + problems if problems else ''}.")
        LOG.info("serving %s (default %s) on http://%s:%d", ", ".join(sorted(registry.readers)),
                 registry.default, settings.host, settings.port)
        yield
        for batcher in batchers.values():
            await batcher.close()
        executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(title="captcha-keras", version=__version__, lifespan=lifespan,
                  description="Read captchas with trained captcha-keras models.")
    app.state.registry, app.state.batchers = registry, batchers
    errors.install(app)

    def require_key(request: Request):
        if settings.api_key is None:
            return
        given = request.headers.get(API_KEY_HEADER, "")
        if not hmac.compare_digest(given.encode(), settings.api_key.encode()):
            raise ApiError(401, f"Send the service's key in the {API_KEY_HEADER} header.")

    def batcher_of(name, reader):
        if name not in batchers:
            batchers[name] = Batcher(reader.forward, executor, settings.max_batch, settings.max_pending)
        return batchers[name]

    @app.post("/predict", dependencies=[Depends(require_key)], openapi_extra={"requestBody": PREDICT_BODY},
              summary="Read captchas")
    async def predict(request: Request):
        started = time.perf_counter()
        body = await request.body()
        parsed = parse_request(request.headers.get("content-type"), body, settings.max_images)
        request.scope["state"]["images"] = len(parsed.uploads)
        name = parsed.model or registry.default
        reader = registry.get(name)
        try:
            reader.check_allowed(parsed.allowed)
        except ValueError as error:
            raise ApiError(400, str(error)) from None
        loop = asyncio.get_running_loop()
        arrays = await asyncio.gather(*(loop.run_in_executor(executor, _preprocess, reader, u) for u in parsed.uploads))
        good = [i for i, a in enumerate(arrays) if isinstance(a, np.ndarray)]
        results = [None] * len(parsed.uploads)
        for i, upload in enumerate(parsed.uploads):
            if i not in good:
                results[i] = {"file": upload.name, "model": name, "error": arrays[i].to_dict()}
        if not good:
            statuses = {r["error"]["status"] for r in results}
            status = statuses.pop() if len(statuses) == 1 else 400
            raise ApiError(status, "No image of the request could be read.", results=results)
        outputs = await batcher_of(name, reader).run(np.stack([arrays[i] for i in good]))
        readings = await loop.run_in_executor(executor, reader.decode, outputs, parsed.allowed)
        ms = round((time.perf_counter() - started) * 1000, 2)
        for i, reading in zip(good, readings):
            results[i] = {"file": parsed.uploads[i].name, **reading.to_dict(), "model": name, "ms": ms}
        return {"model": name, "results": results, "ms": ms}

    @app.get("/models", dependencies=[Depends(require_key)], summary="The loaded models")
    async def models():
        readers = registry.readers
        return {"default": registry.default, "models": [readers[n].info() for n in sorted(readers)],
                "failed": registry.failed}

    @app.post("/models/reload", dependencies=[Depends(require_key)], summary="Load runs added to --models-dir")
    async def reload():
        added = await asyncio.get_running_loop().run_in_executor(executor, registry.load)
        return {"added": added, "models": sorted(registry.readers), "failed": registry.failed}

    @app.get("/health", summary="Liveness")
    async def health():
        return {"status": "ok", "models": sorted(registry.readers), "version": __version__}

    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=["*"])
    app.add_middleware(BodyLimit, max_bytes=settings.max_request_bytes)
    app.add_middleware(RequestLog)
    return app


def _preprocess(reader, upload):
    """One upload as a model input array, or the `ApiError` that says why not."""
    if upload.error is not None:
        return upload.error
    try:
        return reader.preprocess(upload.data)
    except ImageTooLarge as error:
        return ApiError(413, f"{upload.name}: {_without_source(error)}")
    except ImageError as error:
        return ApiError(400, f"{upload.name}: {_without_source(error)}")


def _without_source(error):
    return str(error).removeprefix("<bytes>: ")
