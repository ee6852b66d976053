"""The images of a `/predict` request, from multipart files or JSON base64, in memory.

Nothing a client sends is written to disk: the multipart body (already held
in memory by `BodyLimit`) is parsed with python-multipart's streaming parser
into bytes, where Starlette's form parser would spool files over 1 MB to a
temporary file.
"""

import base64
import binascii
import dataclasses
import json

from python_multipart.multipart import MultipartParser
from python_multipart.multipart import parse_options_header

from captcha_keras.serving.errors import ApiError

FILE_FIELDS = ("files", "file")
TEXT_FIELDS = ("model", "allowed")


@dataclasses.dataclass
class Upload:
    """One image of a request: its name, and its bytes or why there are none."""

    name: str
    data: bytes = None
    error: ApiError = None


@dataclasses.dataclass
class PredictRequest:
    """What a `/predict` request asks: images, and optionally a model and allowed characters."""

    uploads: list
    model: str = None
    allowed: str = None


def parse_request(content_type, body, max_images):
    """Parses a `/predict` body.

    Raises:
        ApiError: 415 neither multipart nor JSON, 422 malformed, 413 too many images.
    """
    kind, options = parse_options_header(content_type or "")
    kind = kind.decode("latin-1").lower()
    if kind == "multipart/form-data":
        request = parse_multipart(body, options.get(b"boundary"), max_images)
    elif kind == "application/json" or kind.endswith("+json"):
        request = parse_json(body, max_images)
    else:
        raise ApiError(415, f"Send multipart/form-data (files=...) or application/json ({{\"images\": [base64, "
                            f"...]}}). Received: Content-Type {content_type or 'none'!r}.")
    if not request.uploads:
        raise ApiError(422, "The request holds no image: send multipart `files`, or JSON `images`.")
    return request


def _too_many(max_images):
    return ApiError(413, f"More than {max_images} images in one request (--max-images).", max_images=max_images)


def parse_json(body, max_images):
    """`{"images": [base64 or {"b64": ..., "name": ...}, ...], "model": ..., "allowed": ...}`."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ApiError(422, f"The body is not valid JSON: {error}.") from None
    if not isinstance(payload, dict):
        raise ApiError(422, f"The JSON body must be an object with an `images` list. Received: {type(payload).__name__}.")
    unknown = sorted(set(payload) - {"images", *TEXT_FIELDS})
    if unknown:
        raise ApiError(422, f"Unknown JSON fields {unknown}; expected images, model, allowed.")
    images = payload.get("images")
    if not isinstance(images, list):
        raise ApiError(422, f"`images` must be a list of base64 strings. Received: {type(images).__name__}.")
    if len(images) > max_images:
        raise _too_many(max_images)
    for field in TEXT_FIELDS:
        if payload.get(field) is not None and not isinstance(payload[field], str):
            raise ApiError(422, f"`{field}` must be a string. Received: {type(payload[field]).__name__}.")
    uploads = []
    for index, item in enumerate(images):
        name = f"image-{index}"
        if isinstance(item, dict):
            name = item.get("name") if isinstance(item.get("name"), str) else name
            item = item.get("b64")
        if not isinstance(item, str):
            raise ApiError(422, f"images[{index}] must be a base64 string or {{\"b64\": ...}}. "
                                f"Received: {type(item).__name__}.")
        uploads.append(_decode_base64(name, item))
    return PredictRequest(uploads, payload.get("model"), payload.get("allowed"))


def _decode_base64(name, text):
    if text.startswith("data:"):
        # A data URL, as a browser's FileReader makes it.
        text = text.partition(",")[2]
    try:
        return Upload(name, base64.b64decode("".join(text.split()), validate=True))
    except (binascii.Error, ValueError):
        return Upload(name, error=ApiError(400, f"{name}: not valid base64."))


def parse_multipart(body, boundary, max_images):
    """Multipart parts: `files` (or `file`) uploads, and `model` / `allowed` fields."""
    if not boundary:
        raise ApiError(422, "A multipart body needs a boundary in its Content-Type.")
    parts, current = [], {}

    def on_part_begin():
        current.clear()
        current.update(headers={}, data=bytearray(), field=b"", value=b"")

    def on_header_field(data, start, end):
        current["field"] += data[start:end]

    def on_header_value(data, start, end):
        current["value"] += data[start:end]

    def on_header_end():
        current["headers"][current["field"].decode("latin-1").lower()] = current["value"]
        current["field"], current["value"] = b"", b""

    def on_part_data(data, start, end):
        current["data"] += data[start:end]

    def on_part_end():
        parts.append((current["headers"], bytes(current["data"])))
        if len([p for p in parts if b"filename" in p[0].get("content-disposition", b"")]) > max_images:
            raise _too_many(max_images)

    callbacks = dict(on_part_begin=on_part_begin, on_header_field=on_header_field,
                     on_header_value=on_header_value, on_header_end=on_header_end, on_part_data=on_part_data,
                     on_part_end=on_part_end)
    parser = MultipartParser(boundary, callbacks)
    try:
        parser.write(body)
        parser.finalize()
    except ApiError:
        raise
    except Exception as error:  # python-multipart raises its own errors, and ValueError
        raise ApiError(422, f"Malformed multipart body: {error}.") from None
    if not parts and body:
        raise ApiError(422, "Malformed multipart body: no part found for the boundary given.")
    request = PredictRequest([])
    for headers, data in parts:
        _, options = parse_options_header(headers.get("content-disposition", b""))
        field = options.get(b"name", b"").decode("utf-8", errors="replace")
        if field in FILE_FIELDS:
            filename = options.get(b"filename", b"").decode("utf-8", errors="replace")
            request.uploads.append(Upload(filename or f"image-{len(request.uploads)}", data))
        elif field in TEXT_FIELDS:
            try:
                setattr(request, field, data.decode("utf-8"))
            except UnicodeDecodeError:
                raise ApiError(422, f"`{field}` is not UTF-8 text.") from None
        else:
            raise ApiError(422, f"Unknown form field {field!r}; expected files, model, allowed.")
    return request
