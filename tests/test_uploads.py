"""captcha_keras.serving.uploads: the images of a `/predict` body, multipart or JSON, parsed in memory."""

import base64
import json

import pytest
from helpers import multipart

# Imported after the check: without the serve extra these modules cannot load, and the file is skipped.
pytest.importorskip("fastapi", reason="the service needs the serve extra: pip install -e .[serve]")

from captcha_keras.serving.errors import ApiError  # noqa: E402
from captcha_keras.serving.uploads import parse_json  # noqa: E402
from captcha_keras.serving.uploads import parse_multipart  # noqa: E402
from captcha_keras.serving.uploads import parse_request  # noqa: E402

# Bytes a text parser would mangle: CR LF, a NUL, a byte that is not UTF-8, a dash run like a boundary's.
AWKWARD = b"\x89PNG\r\n\x1a\n\x00\xff--captcha\r\n--"


def refused(status, call, *args):
    """The ApiError that `call(*args)` raises, checked for its status."""
    with pytest.raises(ApiError) as caught:
        call(*args)
    assert caught.value.status == status, caught.value.message
    return caught.value


def encoded(data):
    return base64.b64encode(data).decode()


# ---------------------------------------------------------------- parse_request


@pytest.mark.parametrize(
    "content_type",
    [
        "multipart/form-data; boundary=captcha-keras-test-boundary",
        "Multipart/Form-Data; boundary=captcha-keras-test-boundary",
    ],
)
def test_a_multipart_body_is_parsed_as_multipart(content_type):
    body, _ = multipart([("a.png", AWKWARD)], {"model": "m"})
    request = parse_request(content_type, body, max_images=8)
    assert [(u.name, u.data, u.error) for u in request.uploads] == [("a.png", AWKWARD, None)]
    assert (request.model, request.allowed) == ("m", None)


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/json; charset=utf-8", "APPLICATION/JSON", "application/vnd.captcha+json"],
)
def test_a_json_body_is_parsed_as_json(content_type):
    request = parse_request(content_type, json.dumps({"images": [encoded(AWKWARD)]}).encode(), max_images=8)
    assert [(u.name, u.data) for u in request.uploads] == [("image-0", AWKWARD)]


@pytest.mark.parametrize("content_type, shown", [("text/plain", "'text/plain'"), (None, "'none'"), ("", "'none'")])
def test_a_body_of_another_type_is_a_415_that_names_it(content_type, shown):
    error = refused(415, parse_request, content_type, b"x", 8)
    assert error.message.endswith(f"Received: Content-Type {shown}.")


@pytest.mark.parametrize(
    "content_type, body",
    [
        ("application/json", b'{"images": []}'),
        (
            "multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="model"\r\n\r\nm\r\n--b--\r\n',
        ),
        ("multipart/form-data; boundary=b", b""),
    ],
)
def test_a_request_without_an_image_is_a_422(content_type, body):
    assert "holds no image" in refused(422, parse_request, content_type, body, 8).message


# ---------------------------------------------------------------- JSON


def test_json_images_are_base64_strings_or_named_objects():
    payload = {
        "images": [
            encoded(AWKWARD),
            {"b64": encoded(b"second"), "name": "named.png"},
            {"b64": encoded(b"third"), "name": 7},  # a name that is no string: the default name
            "data:image/png;base64," + encoded(b"from a FileReader"),
            "\n".join(encoded(b"wrapped at 8 characters " * 3)[i : i + 8] for i in range(0, 100, 8)),
        ],
        "model": "ctc_default",
        "allowed": "0123",
    }
    request = parse_json(json.dumps(payload).encode(), max_images=8)
    assert [(u.name, u.data, u.error) for u in request.uploads] == [
        ("image-0", AWKWARD, None),
        ("named.png", b"second", None),
        ("image-2", b"third", None),
        ("image-3", b"from a FileReader", None),
        ("image-4", b"wrapped at 8 characters " * 3, None),
    ]
    assert (request.model, request.allowed) == ("ctc_default", "0123")


def test_bad_base64_is_an_error_of_that_image_alone():
    request = parse_json(json.dumps({"images": ["%%%", encoded(b"ok"), {"b64": "abc", "name": "short.png"}]}), 8)
    first, good, short = request.uploads
    assert (first.data, first.error.status, first.error.message) == (None, 400, "image-0: not valid base64.")
    assert (good.data, good.error) == (b"ok", None)
    assert (short.data, short.error.message) == (None, "short.png: not valid base64.")


@pytest.mark.parametrize(
    "body, message",
    [
        (b"{not json", "not valid JSON (JSONDecodeError"),
        (b"[" * 100000, "not valid JSON (RecursionError"),
        (b'{"images": ["\xff"]}', "not valid JSON (UnicodeDecodeError"),
        (b"[]", "Received: list."),
        (b'"images"', "Received: str."),
        (b'{"images": [], "colour": 1, "size": 2}', "Unknown JSON fields ['colour', 'size']"),
        (b'{"image": []}', "Unknown JSON fields ['image']"),
        (b'{"images": "abc"}', "`images` must be a list of base64 strings. Received: str."),
        (b'{"model": "m"}', "Received: NoneType."),
        (b'{"images": ["aGk="], "model": 3}', "`model` must be a string. Received: int."),
        (b'{"images": ["aGk="], "allowed": ["0"]}', "`allowed` must be a string. Received: list."),
        (b'{"images": ["aGk=", 1]}', "images[1] must be a base64 string"),
        (b'{"images": [{"name": "a.png"}]}', 'images[0] must be a base64 string or {"b64": ...}. Received: NoneType.'),
    ],
)
def test_malformed_json_is_a_422_that_says_what_is_wrong(body, message):
    assert message in refused(422, parse_json, body, 8).message


def test_too_many_json_images_is_a_413_before_any_is_looked_at():
    # Nine of anything, even of what would be a 422 each: the count is checked first.
    error = refused(413, parse_json, json.dumps({"images": [1] * 9}).encode(), 8)
    assert error.extra == {"max_images": 8} and "More than 8 images" in error.message
    assert len(parse_json(json.dumps({"images": ["aGk="] * 8}).encode(), 8).uploads) == 8


# ---------------------------------------------------------------- multipart


def part(name, data, filename=None, boundary=b"b"):
    disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
    return b"--" + boundary + b"\r\nContent-Disposition: " + disposition.encode() + b"\r\n\r\n" + data + b"\r\n"


def test_multipart_files_and_fields_come_back_byte_for_byte():
    body = (
        part("files", AWKWARD, "a.png")
        + part("file", b"two", "b.png")
        + part("files", b"three")
        + part("model", "modèle".encode())
        + part("allowed", b"0123")
        + b"--b--\r\n"
    )
    request = parse_multipart(body, b"b", max_images=8)
    assert [(u.name, u.data) for u in request.uploads] == [("a.png", AWKWARD), ("b.png", b"two"), ("image-2", b"three")]
    assert (request.model, request.allowed) == ("modèle", "0123")


@pytest.mark.parametrize("boundary, ok", [(None, False), (b"", False), (b"x" * 70, True), (b"x" * 71, False)])
def test_a_boundary_is_1_to_70_characters(boundary, ok):
    body = part("files", b"x", "a.png", boundary or b"b") + b"--" + (boundary or b"b") + b"--\r\n"
    if ok:
        assert len(parse_multipart(body, boundary, 8).uploads) == 1
    else:
        assert "boundary of 1 to 70 characters" in refused(422, parse_multipart, body, boundary, 8).message


@pytest.mark.parametrize(
    "body, message",
    [
        (part("model", b"a") + part("model", b"b") + b"--b--\r\n", "The form field 'model' is given twice."),
        (part("colour", b"red") + b"--b--\r\n", "Unknown form field 'colour'"),
        (part("allowed", b"\xff\xfe") + b"--b--\r\n", "`allowed` is not UTF-8 text."),
        (
            part("files", b"x", "a.png") + b'--b\r\nContent-Disposition: form-data; name="files"\r\n\r\nhalf',
            "the last part is cut off before its closing boundary",
        ),
        (
            b'--other\r\nContent-Disposition: form-data; name="files"\r\n\r\nx\r\n--other--\r\n',
            "Malformed multipart body: Expected boundary character",
        ),
        (b"--b--\r\n", "no part found for the boundary given"),
    ],
)
def test_malformed_multipart_is_a_422_that_says_what_is_wrong(body, message):
    assert message in refused(422, parse_multipart, body, b"b", 8).message


def test_too_many_parts_are_refused_at_the_first_one_too_many():
    # Twenty thousand parts, and then one the parser would refuse as unknown: the count stops it at the ninth.
    body = part("files", b"x") * 20000 + part("colour", b"red") + b"--b--\r\n"
    error = refused(413, parse_multipart, body, b"b", 8)
    assert error.extra == {"max_images": 8}
    assert len(parse_multipart(part("files", b"x") * 8 + b"--b--\r\n", b"b", 8).uploads) == 8


# ---------------------------------------------------------------- min_confidence


@pytest.mark.parametrize("text, expected", [("0", 0.0), ("1", 1.0), ("0.95", 0.95), (" 0.5 ", 0.5), ("1e-1", 0.1)])
def test_min_confidence_is_a_form_field_of_a_number_from_0_to_1(text, expected):
    body = part("files", b"x", "a.png") + part("min_confidence", text.encode()) + b"--b--\r\n"
    request = parse_multipart(body, b"b", max_images=8)
    assert request.min_confidence == expected and isinstance(request.min_confidence, float)
    assert parse_multipart(part("files", b"x", "a.png") + b"--b--\r\n", b"b", 8).min_confidence is None


@pytest.mark.parametrize("value, expected", [(0, 0.0), (1, 1.0), (0.99, 0.99), (None, None)])
def test_min_confidence_is_a_json_number_from_0_to_1(value, expected):
    request = parse_json(json.dumps({"images": ["aGk="], "min_confidence": value}).encode(), 8)
    assert request.min_confidence == expected


@pytest.mark.parametrize("text", ["", "abc", "1.5", "-0.1", "nan", "inf", "90%", "0,9"])
def test_a_min_confidence_field_that_is_not_a_number_from_0_to_1_is_a_422(text):
    body = part("files", b"x", "a.png") + part("min_confidence", text.encode()) + b"--b--\r\n"
    error = refused(422, parse_multipart, body, b"b", 8)
    assert error.message == f"`min_confidence` must be a number from 0 to 1 (0.9 for 90%). Received: {text!r}."


@pytest.mark.parametrize(
    "body, message",
    [
        (b'{"images": ["aGk="], "min_confidence": "0.9"}', "must be a JSON number from 0 to 1. Received: '0.9'."),
        (b'{"images": ["aGk="], "min_confidence": true}', "Received: True."),
        (b'{"images": ["aGk="], "min_confidence": 2}', "Received: 2."),
        (b'{"images": ["aGk="], "min_confidence": -0.5}', "Received: -0.5."),
        (b'{"images": ["aGk="], "min_confidence": NaN}', "Received: nan."),
        (b'{"images": ["aGk="], "min_confidence": [0.9]}', "Received: [0.9]."),
        (b'{"images": ["aGk="], "min_confidence": "' + b"9" * 500 + b'"}', "Received: '99999"),
    ],
)
def test_a_json_min_confidence_that_is_not_a_number_from_0_to_1_is_a_422(body, message):
    error = refused(422, parse_json, body, 8)
    assert message in error.message and len(error.message) < 200


def test_min_confidence_given_twice_is_a_422_and_the_known_fields_are_named():
    twice = part("min_confidence", b"0.5") + part("min_confidence", b"0.6") + b"--b--\r\n"
    assert "'min_confidence' is given twice" in refused(422, parse_multipart, twice, b"b", 8).message
    unknown = part("colour", b"red") + b"--b--\r\n"
    assert refused(422, parse_multipart, unknown, b"b", 8).message.endswith(
        "expected files, model, allowed, min_confidence."
    )
    assert refused(422, parse_json, b'{"images": [], "colour": 1}', 8).message.endswith(
        "expected images, model, allowed, min_confidence."
    )
