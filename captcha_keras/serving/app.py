"""`create_app(settings)`: the FastAPI app of the service.

    POST /predict         images (multipart `files`, or JSON `{"images": [base64, ...]}`), optional
                          `model`, `allowed` and `min_confidence`: per image its text, calibrated
                          confidence, characters, ms; below `min_confidence` the reading abstains
                          (text null, `abstained`, `reason`)
    GET  /models          the loaded models: family, charset, input size, lengths, shipped scores
    POST /models/reload   load runs added to --models-dir since start-up
    GET  /health          liveness and the loaded models
    GET  /docs            the OpenAPI page
    GET  /                the web page: read captchas, and label a folder (static/)
    GET  /label/status, /label/queue, /label/image/NAME; POST /label
                          labelling the --label-dir folder (`labelling.py`)
    GET  /label/accept-preview?min_confidence=X; POST /label/accept
                          accept every queued reading at or above X, with the mistakes expected
    GET, POST /label/train
                          "Train now": fine-tune the labelling model on the labels in a background
                          process, then label with the new run (`background_training.py`)

The models load once, when the app starts (lifespan). Image decoding, the
models and decoding run in a bounded pool of worker threads, never on the
event loop.
"""

import asyncio
import concurrent.futures
import contextlib
import hmac
import logging
import os
import time

import numpy as np
from fastapi import Depends
from fastapi import FastAPI
from fastapi import Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from captcha_keras import __version__
from captcha_keras.images import ImageError
from captcha_keras.images import ImageTooLarge
from captcha_keras.serving import errors
from captcha_keras.serving.background_training import BackgroundTraining
from captcha_keras.serving.batching import Batcher
from captcha_keras.serving.errors import ApiError
from captcha_keras.serving.labelling import LabelSession
from captcha_keras.serving.limits import BodyLimit
from captcha_keras.serving.registry import ModelRegistry
from captcha_keras.serving.settings import API_KEY_HEADER
from captcha_keras.serving.uploads import parse_json_body
from captcha_keras.serving.uploads import parse_min_confidence
from captcha_keras.serving.uploads import parse_request

LOG = logging.getLogger("captcha_keras.serving")
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
# The page loads nothing from elsewhere and runs no inline script.
PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' blob: data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
}

MIN_CONFIDENCE_SCHEMA = {
    "type": "number",
    "minimum": 0,
    "maximum": 1,
    "description": "calibrated confidence below which a reading abstains: its text is null, "
    "`abstained` true and `reason` says why",
}
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
                    "min_confidence": MIN_CONFIDENCE_SCHEMA,
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
                    "min_confidence": MIN_CONFIDENCE_SCHEMA,
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
        started, status = time.perf_counter(), ["-"]
        scope.setdefault("state", {})

        async def record(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            images = scope["state"].get("images", 0)
            # The path as the client sent it, quoted: a decoded "%0A" must not split the line.
            LOG.info(
                "%s %s %s images=%d %.1f ms",
                scope["method"],
                ascii(scope["path"])[1:-1],
                status[0],
                images,
                (time.perf_counter() - started) * 1000,
            )


def create_app(settings, registry=None):
    """The app for `settings` (`ServeSettings`); `registry` replaces the one it would load."""
    executor = concurrent.futures.ThreadPoolExecutor(settings.workers, thread_name_prefix="captcha-keras")
    registry = registry or ModelRegistry(
        settings.models_dir,
        settings.models,
        settings.default_model,
        decoder=settings.decoder,
        max_pixels=settings.max_pixels,
        formats=settings.formats,
        format=settings.format,
    )
    batchers = {}
    session = LabelSession(settings.label_dir) if settings.label_dir else None
    training = (
        BackgroundTraining(
            session,
            settings.label_runs_dir or os.path.join(settings.label_dir, ".captcha_keras_runs"),
            # Each run in its SavedModel: a fine-tune writes no other export, whatever --format serves.
            lambda path: registry.open(path, format=None),
            max_minutes=settings.label_train_minutes,
            extra_flags=settings.label_train_flags,
            min_labels=settings.label_min_labels,
        )
        if session is not None
        else None
    )

    @contextlib.asynccontextmanager
    async def lifespan(app):
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(executor, registry.load)
        if not registry.readers:
            problems = "; ".join(f"{k}: {v}" for k, v in registry.failed.items())
            where = repr(settings.models_dir) if settings.models_dir else "the shipped models"
            raise RuntimeError(f"No model to serve in {where}{': ' + problems if problems else ''}.")
        LOG.info(
            "serving %s (default %s) on http://%s:%d",
            ", ".join(sorted(registry.readers)),
            registry.default,
            settings.host,
            settings.port,
        )
        if session is not None:
            reader = registry.get(settings.label_model)
            # The page shows progress while the folder is read.
            loop.run_in_executor(executor, session.read_all, reader)
            LOG.info(
                "labelling %d images of %s with %s (%d labelled)",
                len(session.files),
                session.folder,
                reader.name,
                len(session.labels),
            )
        yield
        if training is not None:
            training.stop()
        for batcher in batchers.values():
            await batcher.close()
        executor.shutdown(wait=False, cancel_futures=True)

    app = FastAPI(
        title="captcha-keras",
        version=__version__,
        lifespan=lifespan,
        description="Read captchas with trained captcha-keras models.",
    )
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

    @app.post(
        "/predict",
        dependencies=[Depends(require_key)],
        openapi_extra={"requestBody": PREDICT_BODY},
        summary="Read captchas",
    )
    async def predict(request: Request):
        started = time.perf_counter()
        body = await request.body()
        loop = asyncio.get_running_loop()
        # Parsing 8 MiB of JSON and base64 takes tens of milliseconds: not on the event loop.
        parsed = await loop.run_in_executor(
            executor, parse_request, request.headers.get("content-type"), body, settings.max_images
        )
        request.scope["state"]["images"] = len(parsed.uploads)
        name = parsed.model or registry.default
        reader = registry.get(name)
        try:
            reader.check_allowed(parsed.allowed)
        except ValueError as error:
            raise ApiError(400, str(error)) from None
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
        readings = await loop.run_in_executor(
            executor, reader.decode, outputs, parsed.allowed, None, parsed.min_confidence
        )
        ms = round((time.perf_counter() - started) * 1000, 2)
        for i, reading in zip(good, readings):
            results[i] = {"file": parsed.uploads[i].name, **reading.to_dict(), "model": name, "ms": ms}
        return {"model": name, "results": results, "ms": ms}

    @app.get("/models", dependencies=[Depends(require_key)], summary="The loaded models")
    async def models():
        readers = registry.readers
        return {
            "default": registry.default,
            "models": [readers[n].info() for n in sorted(readers)],
            "failed": registry.failed,
        }

    @app.post("/models/reload", dependencies=[Depends(require_key)], summary="Load runs added to --models-dir")
    async def reload():
        added = await asyncio.get_running_loop().run_in_executor(executor, registry.load)
        return {"added": added, "models": sorted(registry.readers), "failed": registry.failed}

    @app.get("/health", summary="Liveness")
    async def health():
        return {"status": "ok", "models": sorted(registry.readers), "version": __version__}

    def label_session():
        if session is None:
            raise ApiError(404, "No folder to label: start the service with --label-dir DIR.")
        return session

    @app.get("/label/status", dependencies=[Depends(require_key)], summary="Labelling progress")
    async def label_status():
        return label_session().status()

    @app.get("/label/queue", dependencies=[Depends(require_key)], summary="Unlabelled images, least confident first")
    async def label_queue():
        return {"queue": label_session().queue()}

    @app.get("/label/image/{name}", dependencies=[Depends(require_key)], summary="One image of the label folder")
    async def label_image(name: str):
        return FileResponse(label_session().image_path(name), headers={"Cache-Control": "no-store"})

    @app.post("/label", dependencies=[Depends(require_key)], summary="Save a label to DIR/labels.csv")
    async def save_label(request: Request):
        payload = parse_json_body(await request.body())
        if (
            not isinstance(payload, dict)
            or not isinstance(payload.get("file"), str)
            or not isinstance(payload.get("label"), str)
        ):
            raise ApiError(422, 'Send {"file": NAME, "label": TEXT}.')
        current = label_session()
        return await asyncio.get_running_loop().run_in_executor(
            executor, current.save, payload["file"], payload["label"]
        )

    @app.get(
        "/label/accept-preview",
        dependencies=[Depends(require_key)],
        summary="How many queued readings a threshold accepts, and the mistakes expected among them",
    )
    async def label_accept_preview(request: Request):
        current = label_session()
        if set(request.query_params) != {"min_confidence"}:
            raise ApiError(422, "Ask with ?min_confidence=X, a number from 0 to 1 (0.99 for 99%).")
        threshold = parse_min_confidence(request.query_params["min_confidence"])
        return current.accept_preview(threshold)

    @app.post("/label/accept", dependencies=[Depends(require_key)], summary="Accept every reading at or above X")
    async def label_accept(request: Request):
        current = label_session()
        payload = parse_json_body(await request.body())
        # A number, and nothing else: null here would accept nothing or everything, and a person means neither.
        if (
            not isinstance(payload, dict)
            or set(payload) != {"min_confidence"}
            or isinstance(payload["min_confidence"], (str, type(None)))
        ):
            raise ApiError(422, 'Send {"min_confidence": X}, X a JSON number from 0 to 1 (0.99 for 99%).')
        threshold = parse_min_confidence(payload["min_confidence"])
        return await asyncio.get_running_loop().run_in_executor(executor, current.accept, threshold)

    @app.get("/label/train", dependencies=[Depends(require_key)], summary="The background training's progress")
    async def label_train_status():
        label_session()
        return training.status()

    @app.post(
        "/label/train",
        dependencies=[Depends(require_key)],
        status_code=202,
        summary="Fine-tune the labelling model on the labels so far, in the background",
    )
    async def label_train():
        label_session()
        # Starting a process takes milliseconds, but a fork of a large process is not the event loop's to wait on.
        return await asyncio.get_running_loop().run_in_executor(executor, training.start)

    @app.get("/", include_in_schema=False)
    async def page():
        return FileResponse(os.path.join(STATIC, "index.html"), headers=PAGE_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(settings.cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["*"],
        )
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
    except Exception as error:  # a decoder failing in a way nobody listed is still the image's fault
        LOG.warning("could not decode %r: %s: %s", upload.name, type(error).__name__, error)
        return ApiError(400, f"{upload.name}: could not be decoded ({type(error).__name__}).")


def _without_source(error):
    return str(error).removeprefix("<bytes>: ")
