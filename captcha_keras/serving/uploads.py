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

from captcha_keras.inference.readings import check_min_confidence
from captcha_keras.serving.errors import ApiError

FILE_FIELDS = ("files", "file")
TEXT_FIELDS = ("model", "allowed")
# Fields that hold a number: a JSON number, or a multipart field's text that parses as one.
NUMBER_FIELDS = ("min_confidence",)
FORM_FIELDS = TEXT_FIELDS + NUMBER_FIELDS


@dataclasses.dataclass
class Upload:
    """One image of a request: its name, and its bytes or why there are none."""

    name: str
    data: bytes = None
    error: ApiError = None


@dataclasses.dataclass
class PredictRequest:
    """What a `/predict` request asks: images, and optionally a model, allowed characters and the
    confidence below which a reading abstains."""

    uploads: list
    model: str = None
    allowed: str = None
    min_confidence: float = None


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
        raise ApiError(
            415,
            f'Send multipart/form-data (files=...) or application/json ({{"images": [base64, '
            f"...]}}). Received: Content-Type {content_type or 'none'!r}.",
        )
    if not request.uploads:
        raise ApiError(422, "The request holds no image: send multipart `files`, or JSON `images`.")
    return request


def _too_many(max_images):
    return ApiError(413, f"More than {max_images} images in one request (--max-images).", max_images=max_images)


def parse_json_body(body):
    """The JSON value of a body; 422 for anything that is not JSON a person would send."""
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as error:
        # ValueError covers JSONDecodeError, bad UTF-8 and integers of more than 4,300 digits;
        # RecursionError, arrays nested thousands deep.
        raise ApiError(422, f"The body is not valid JSON ({type(error).__name__}: {str(error)[:200]}).") from None


def parse_min_confidence(value):
    """`min_confidence` of a request as a float in [0, 1] (None stays None); 422 for anything else.

    Args:
        value: None, a JSON number, or the text of a form field (`"0.9"`).

    Example:

    >>> parse_min_confidence("0.95")
    0.95
    """
    if value is None:
        return None
    number = value
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = value
    try:
        check_min_confidence(number)
    except ValueError:
        raise ApiError(
            422, f"`min_confidence` must be a number from 0 to 1 (0.9 for 90%). Received: {_shown(value)}."
        ) from None
    return float(number)


def _shown(value):
    """A client's value in an error message, cut short: a huge string must not come back whole."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def parse_json(body, max_images):
    """`{"images": [base64 or {"b64": ..., "name": ...}, ...], "model": ..., "allowed": ...,
    "min_confidence": ...}`."""
    payload = parse_json_body(body)
    if not isinstance(payload, dict):
        raise ApiError(
            422, f"The JSON body must be an object with an `images` list. Received: {type(payload).__name__}."
        )
    unknown = sorted(set(payload) - {"images", *FORM_FIELDS})
    if unknown:
        raise ApiError(422, f"Unknown JSON fields {unknown}; expected images, {', '.join(FORM_FIELDS)}.")
    images = payload.get("images")
    if not isinstance(images, list):
        raise ApiError(422, f"`images` must be a list of base64 strings. Received: {type(images).__name__}.")
    if len(images) > max_images:
        raise _too_many(max_images)
    for field in TEXT_FIELDS:
        if payload.get(field) is not None and not isinstance(payload[field], str):
            raise ApiError(422, f"`{field}` must be a string. Received: {type(payload[field]).__name__}.")
    # A JSON number only: "0.9" in quotes is refused (by the check) rather than guessed at.
    min_confidence = payload.get("min_confidence")
    if isinstance(min_confidence, str):
        raise ApiError(422, f"`min_confidence` must be a JSON number from 0 to 1. Received: {_shown(min_confidence)}.")
    min_confidence = parse_min_confidence(min_confidence)
    uploads = []
    for index, item in enumerate(images):
        name = f"image-{index}"
        if isinstance(item, dict):
            name = item.get("name") if isinstance(item.get("name"), str) else name
            item = item.get("b64")
        if not isinstance(item, str):
            raise ApiError(
                422, f'images[{index}] must be a base64 string or {{"b64": ...}}. Received: {type(item).__name__}.'
            )
        uploads.append(_decode_base64(name, item))
    return PredictRequest(uploads, payload.get("model"), payload.get("allowed"), min_confidence)


def _decode_base64(name, text):
    if text.startswith("data:"):
        # A data URL, as a browser's FileReader makes it.
        text = text.partition(",")[2]
    try:
        return Upload(name, base64.b64decode("".join(text.split()), validate=True))
    except (binascii.Error, ValueError):
        return Upload(name, error=ApiError(400, f"{name}: not valid base64."))


def parse_multipart(body, boundary, max_images):
    """Multipart parts: `files` (or `file`) uploads, and `model` / `allowed` / `min_confidence` fields.

    Parts are checked as each one ends, so that a body of a million tiny
    parts is refused at the first one too many, not after it is all parsed.
    """
    if not boundary or len(boundary) > 70:
        # RFC 2046: a boundary is 1 to 70 characters.
        raise ApiError(422, "A multipart body needs a boundary of 1 to 70 characters in its Content-Type.")
    request = PredictRequest([])
    current = {}
    seen_fields = set()

    def on_part_begin():
        current.clear()
        current.update(headers={}, data=bytearray(), field=b"", value=b"", open=True)

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
        current["open"] = False
        _, options = parse_options_header(current["headers"].get("content-disposition", b""))
        field = options.get(b"name", b"").decode("utf-8", errors="replace")
        if field in FILE_FIELDS:
            if len(request.uploads) == max_images:
                raise _too_many(max_images)
            filename = options.get(b"filename", b"").decode("utf-8", errors="replace")
            request.uploads.append(Upload(filename or f"image-{len(request.uploads)}", bytes(current["data"])))
        elif field in FORM_FIELDS:
            if field in seen_fields:
                raise ApiError(422, f"The form field {field!r} is given twice.")
            seen_fields.add(field)
            try:
                text = bytes(current["data"]).decode("utf-8")
            except UnicodeDecodeError:
                raise ApiError(422, f"`{field}` is not UTF-8 text.") from None
            setattr(request, field, parse_min_confidence(text) if field in NUMBER_FIELDS else text)
        else:
            raise ApiError(422, f"Unknown form field {field!r}; expected files, {', '.join(FORM_FIELDS)}.")

    callbacks = dict(
        on_part_begin=on_part_begin,
        on_header_field=on_header_field,
        on_header_value=on_header_value,
        on_header_end=on_header_end,
        on_part_data=on_part_data,
        on_part_end=on_part_end,
    )
    try:
        parser = MultipartParser(boundary, callbacks)
        parser.write(body)
        parser.finalize()
    except ApiError:
        raise
    except Exception as error:  # python-multipart raises its own errors, and ValueError
        raise ApiError(422, f"Malformed multipart body: {error}.") from None
    if current.get("open"):
        raise ApiError(422, "Malformed multipart body: the last part is cut off before its closing boundary.")
    if not request.uploads and not seen_fields and body:
        raise ApiError(422, "Malformed multipart body: no part found for the boundary given.")
    return request
