"""The HTTP service, run for real: scripts/serve.py on a loopback port, called over HTTP."""

import base64
import concurrent.futures
import http.client
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from bad_inputs import captcha_png
from bad_inputs import cases
from helpers import ROOT
from helpers import SHIPPED
from helpers import Server
from helpers import free_port
from helpers import multipart

pytest.importorskip("fastapi", reason="the service needs the serve extra: pip install -e .[serve]")
pytest.importorskip("uvicorn", reason="the service needs the serve extra: pip install -e .[serve]")

LIMITS = ["--max-request-bytes", str(2 * 1024 * 1024), "--max-images", "8", "--max-pixels", "1000000"]


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory):
    """A models folder holding the shipped ctc_default and really_simple_captcha (links, not copies)."""
    folder = tmp_path_factory.mktemp("serving") / "models"
    folder.mkdir()
    for name in ("ctc_default", "really_simple_captcha"):
        os.symlink(os.path.join(SHIPPED, name), folder / name)
    return folder


@pytest.fixture(scope="module")
def server(models_dir):
    running = Server(models_dir, *LIMITS)
    yield running
    running.stop()


def test_health_models_and_docs(server):
    status, health = server.request("GET", "/health")
    assert status == 200 and health["models"] == ["ctc_default", "really_simple_captcha"]
    status, models = server.request("GET", "/models")
    assert status == 200 and models["default"] == "ctc_default"
    ctc = next(m for m in models["models"] if m["name"] == "ctc_default")
    assert (ctc["family"], ctc["width"], ctc["height"], ctc["min_length"]) == ("ctc", 128, 64, 4)
    assert ctc["charset"] == "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ" and ctc["metrics"]["sequence_accuracy"] > 0.98
    status, page = server.request("GET", "/docs")
    assert status == 200 and b"swagger" in page.lower()
    status, schema = server.request("GET", "/openapi.json")
    assert "/predict" in schema["paths"] and "multipart/form-data" in json.dumps(schema["paths"]["/predict"])


def test_predict_multipart_and_json_read_the_same(server):
    png = captcha_png("K7QX", seed=3)
    status, by_file = server.post_files([("k7qx.png", png), ("w2ab.png", captcha_png("W2AB", seed=4))])
    assert status == 200
    assert [r["text"] for r in by_file["results"]] == ["K7QX", "W2AB"]
    first = by_file["results"][0]
    assert first["file"] == "k7qx.png" and first["model"] == "ctc_default" and first["ms"] > 0
    assert 0 < first["confidence"] <= 1 and [c["char"] for c in first["characters"]] == list("K7QX")
    assert len(first["characters"][0]["alternatives"]) == 3
    status, by_json = server.post_json(
        {"images": [base64.b64encode(png).decode(), {"b64": base64.b64encode(png).decode(), "name": "named.png"}]}
    )
    assert status == 200 and [r["text"] for r in by_json["results"]] == ["K7QX", "K7QX"]
    assert by_json["results"][1]["file"] == "named.png"
    assert by_json["results"][0]["confidence"] == pytest.approx(first["confidence"], abs=1e-6)


def test_model_and_allowed_per_request(server):
    png = captcha_png("K7QX", seed=3)
    status, body = server.post_files([("a.png", png)], allowed="0123456789")
    assert status == 200 and set(body["results"][0]["text"]) <= set("0123456789")
    # The next request, without `allowed`, is not affected by the one before.
    assert server.post_files([("a.png", png)])[1]["results"][0]["text"] == "K7QX"
    fixture = os.path.join(ROOT, "tests", "fixtures", "really_simple_captcha", "images", "2R4L.png")
    with open(fixture, "rb") as f:
        status, body = server.post_files([("2R4L.png", f.read())], model="really_simple_captcha")
    assert status == 200 and body["results"][0]["text"] == "2R4L" and body["model"] == "really_simple_captcha"


def min_confidence_images():
    """Images that read with confidences spread out: captchas, pixel noise and a blank page."""
    from bad_inputs import encode
    from helpers import noise
    from PIL import Image

    images = [(f"{t}.png", captcha_png(t, seed)) for seed, t in enumerate(["K7QX", "W2AB", "M9PL", "Z3RT", "0OQ8"])]
    images.append(("noise.png", encode(Image.fromarray(noise(7, (128, 64))), "PNG")))
    images.append(("blank.png", encode(Image.new("L", (128, 64), 255), "PNG")))
    return images


def test_min_confidence_abstains_exactly_below_the_threshold(server):
    images = min_confidence_images()
    status, plain = server.post_files(images)
    assert status == 200 and not any("abstained" in r for r in plain["results"])
    confidences = sorted({r["confidence"] for r in plain["results"]})
    assert len(confidences) >= 3, confidences
    # Between two confidences (rounded to 6 digits in the answer): no reading sits on a threshold.
    thresholds = [0.0] + [(low + high) / 2 for low, high in zip(confidences, confidences[1:])]
    for threshold in thresholds:
        for status, body in (
            server.post_files(images, min_confidence=repr(threshold)),
            server.post_json(
                {
                    "images": [{"b64": base64.b64encode(d).decode(), "name": n} for n, d in images],
                    "min_confidence": threshold,
                }
            ),
        ):
            assert status == 200
            for before, after in zip(plain["results"], body["results"]):
                assert after["file"] == before["file"] and after["confidence"] == before["confidence"]
                if before["confidence"] < threshold:
                    assert (after["text"], after["characters"], after["abstained"]) == (None, [], True)
                    assert after["reason"].startswith("confidence ")
                    assert after["reason"].endswith(f"is below min_confidence {threshold:g}")
                else:
                    assert "abstained" not in after and "reason" not in after
                    drop = ("ms",)
                    assert {k: v for k, v in after.items() if k not in drop} == {
                        k: v for k, v in before.items() if k not in drop
                    }
    # The next request, without it, is not affected by the one before.
    assert server.post_files(images)[1]["results"][0]["text"] == "K7QX"
    status, schema = server.request("GET", "/openapi.json")
    assert '"min_confidence"' in json.dumps(schema["paths"]["/predict"])


def test_a_bad_min_confidence_is_a_422_that_says_so(server):
    png = captcha_png("K7QX", seed=3)
    for value in ("", "abc", "1.5", "-0.1", "nan", "inf", "90%"):
        status, body = server.post_files([("a.png", png)], min_confidence=value)
        assert status == 422 and "`min_confidence` must be a number from 0 to 1" in body["error"]["message"], value
    encoded = base64.b64encode(png).decode()
    for value in ("0.9", True, 2, -0.5, [0.9], {"x": 1}):
        status, body = server.post_json({"images": [encoded], "min_confidence": value})
        assert status == 422 and "min_confidence" in body["error"]["message"], value
    # null is the same as leaving it out.
    status, body = server.post_json({"images": [encoded], "min_confidence": None})
    assert status == 200 and body["results"][0]["text"] == "K7QX"


def test_errors_are_json_with_the_right_status(server):
    png = captcha_png()
    status, body = server.post_files([("a.png", png)], model="nope")
    assert status == 404 and body["error"]["models"] == ["ctc_default", "really_simple_captcha"]
    status, body = server.post_files([("a.png", png)], allowed="abc")
    assert status == 400 and "abc" in body["error"]["message"]
    assert server.request("POST", "/predict", b"{not json", {"Content-Type": "application/json"})[0] == 422
    for payload in (
        {"images": "abc"},
        {"images": [1, 2]},
        {"images": []},
        [],
        {"images": ["x"], "model": 3},
        {"image": []},
    ):
        status, body = server.post_json(payload)
        assert status == 422 and body["error"]["message"], payload
    status, body = server.post_json({"images": ["%%%not-base64%%%"]})
    assert status == 400 and "base64" in body["error"]["results"][0]["error"]["message"]
    assert server.request("POST", "/predict", b"x", {"Content-Type": "text/plain"})[0] == 415
    assert server.request("POST", "/predict", b"--x\r\n", {"Content-Type": "multipart/form-data"})[0] == 422
    status, body = server.request("GET", "/predict")
    assert status == 405 and body["error"]["status"] == 405
    assert server.request("GET", "/no/such/path")[0] == 404


def test_limits(server):
    png = captcha_png()
    status, body = server.post_files([(f"{i}.png", png) for i in range(9)])
    assert status == 413 and body["error"]["max_images"] == 8
    big = os.urandom(3 * 1024 * 1024)
    status, body = server.post_files([("big.png", big)])
    assert status == 413 and "larger than" in body["error"]["message"]
    # A chunked upload has no Content-Length: the limit holds while the body is read.
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.putrequest("POST", "/predict")
    connection.putheader("Content-Type", "application/json")
    connection.putheader("Transfer-Encoding", "chunked")
    connection.endheaders()
    chunk = b"A" * 65536
    try:
        for _ in range(40):
            connection.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        connection.send(b"0\r\n\r\n")
    except OSError:
        pass  # the server may close once it has answered
    response = connection.getresponse()
    assert response.status == 413 and b"larger than" in response.read()
    connection.close()
    # Pixels are refused from the header, before decoding.
    from bad_inputs import huge_png

    status, body = server.post_files([("huge.png", huge_png())])
    assert status == 413 and "pixels" in body["error"]["results"][0]["error"]["message"]


def test_hostile_bodies_get_a_4xx_quickly(server):
    """Bodies made to crash or stall a parser: each a 4xx, and the server goes on."""
    json_headers = {"Content-Type": "application/json"}
    assert server.request("POST", "/predict", b"[" * 100000, json_headers)[0] == 422
    assert server.request("POST", "/predict", b'{"images": [' + b"1" * 5000 + b"]}", json_headers)[0] == 422
    assert server.request("POST", "/predict", b'\xff\xfe{"images": []}', json_headers)[0] == 422
    status, body = server.request(
        "POST", "/predict", b"--x\r\n", {"Content-Type": "multipart/form-data; boundary=" + "b" * 300}
    )
    assert status == 422 and "boundary" in body["error"]["message"]
    # Thousands of tiny file parts without file names: refused at the first one too many. The body
    # ends in an unknown field, a 422 had it been parsed whole before the parts were counted.
    boundary = "tiny"
    parts = b"".join(b'--tiny\r\nContent-Disposition: form-data; name="files"\r\n\r\nx\r\n' for _ in range(20000))
    unknown = b'--tiny\r\nContent-Disposition: form-data; name="colour"\r\n\r\nred\r\n'
    status, body = server.request(
        "POST",
        "/predict",
        parts + unknown + b"--tiny--\r\n",
        {"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert status == 413 and body["error"]["max_images"] == 8
    # The last file cut off before its closing boundary is not silently dropped.
    whole, content_type = multipart([("a.png", captcha_png()), ("b.png", captcha_png())])
    status, body = server.request("POST", "/predict", whole[: len(whole) - 200], {"Content-Type": content_type})
    assert status == 422 and "cut off" in body["error"]["message"]
    # A field given twice, and an unknown field.
    status, _ = server.post_files([("a.png", captcha_png())], model="ctc_default", allowed="0")
    assert status == 200
    body, content_type = multipart([("a.png", captcha_png())], {"colour": "red"})
    assert server.request("POST", "/predict", body, {"Content-Type": content_type})[0] == 422
    # Over --max-pixels (1,000,000 here) but under Pillow's own bomb limit: the header check refuses it.
    from bad_inputs import encode
    from PIL import Image

    status, body = server.post_files([("wide.png", encode(Image.new("L", (1500, 1000), 255), "PNG"))])
    assert status == 413 and "1,500,000 pixels" in body["error"]["results"][0]["error"]["message"]
    assert server.post_files([("ok.png", captcha_png("K7QX", seed=3))])[1]["results"][0]["text"] == "K7QX"


def test_a_mixed_batch_reads_the_good_images(server):
    status, body = server.post_files(
        [("good.png", captcha_png("K7QX", seed=3)), ("bad.png", b"<html>"), ("empty.png", b"")]
    )
    assert status == 200
    good, bad, empty = body["results"]
    assert good["text"] == "K7QX" and bad["error"]["status"] == 400 and empty["error"]["status"] == 400


def test_the_corpus_of_bad_inputs_never_gets_a_5xx_or_a_200(server):
    corpus = cases()
    assert len(corpus) >= 200
    for name, data, expect in corpus:
        status, body = server.post_files([(name, data)])
        assert status < 500, (name, status, body)
        if status == 200:
            assert expect in ("read", "either"), (name, body)
            assert len(body["results"][0]["text"]) == 4
        else:
            assert expect in ("error", "either") and status in (400, 413), (name, status, body)
            assert body["error"]["results"][0]["error"]["message"], name
    # All of it at once, in batches of the allowed size, as a client might send a folder.
    for start in range(0, len(corpus), 8):
        status, body = server.post_files([(n, d) for n, d, _ in corpus[start : start + 8]])
        assert status < 500
    # The server is still up and still reads a good captcha right.
    assert server.post_files([("ok.png", captcha_png("K7QX", seed=3))])[1]["results"][0]["text"] == "K7QX"
    assert "Traceback" not in server.read_log()


def test_concurrent_clients_are_all_answered(server):
    images = [captcha_png(text, seed) for seed, text in enumerate(["K7QX", "W2AB", "M9PL", "Z3RT"])]

    def call(i):
        return server.post_files([(f"{i}.png", images[i % 4])])

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(call, range(64)))
    assert [a[0] for a in answers] == [200] * 64
    assert [a[1]["results"][0]["text"] for a in answers] == [["K7QX", "W2AB", "M9PL", "Z3RT"][i % 4] for i in range(64)]


def test_one_log_line_per_request(server):
    before = server.read_log().count("POST /predict")
    server.post_files([("a.png", captcha_png())])
    server.post_json({"images": ["!!"]})
    # The line is logged once the answer is sent, so it may follow the client's read: wait for it
    # (the deadline only bounds a failure), then check that no third line came.
    deadline = time.monotonic() + 60
    while server.read_log().count("POST /predict") < before + 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    log = server.read_log()
    assert log.count("POST /predict") == before + 2
    assert "POST /predict 200 images=1" in log and "POST /predict 400 images=1" in log


def test_reload_picks_up_runs_added_later(models_dir, tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    os.symlink(os.path.join(SHIPPED, "really_simple_captcha"), folder / "really_simple_captcha")
    running = Server(folder)
    try:
        assert running.request("GET", "/health")[1]["models"] == ["really_simple_captcha"]
        # The only model is the default when ctc_default is not there.
        assert running.request("GET", "/models")[1]["default"] == "really_simple_captcha"
        os.symlink(os.path.join(SHIPPED, "ctc_default"), folder / "ctc_default")
        (folder / "broken").mkdir()
        shutil.copy(os.path.join(SHIPPED, "ctc_default", "config.json"), folder / "broken")
        (folder / "broken" / "savedmodel").mkdir()
        status, body = running.request("POST", "/models/reload")
        assert status == 200 and body["added"] == ["ctc_default"] and "broken" in body["failed"]
        status, body = running.post_files([("a.png", captcha_png("K7QX", seed=3))], model="ctc_default")
        assert status == 200 and body["results"][0]["text"] == "K7QX"
    finally:
        running.stop()


def test_an_api_key_is_required_when_set(models_dir):
    running = Server(models_dir, "--model", "really_simple_captcha", env={"CAPTCHA_KERAS_API_KEY": "s3cret"})
    try:
        assert running.request("GET", "/health")[0] == 200  # liveness stays open
        status, body = running.request("GET", "/models")
        assert status == 401 and "X-API-Key" in body["error"]["message"]
        assert running.request("GET", "/models", headers={"X-API-Key": "wrong"})[0] == 401
        assert running.request("GET", "/models", headers={"X-API-Key": "s3cret"})[0] == 200
        assert running.post_json({"images": []}, headers={"X-API-Key": "s3cret"})[0] == 422
    finally:
        running.stop()


def test_cors_is_off_unless_asked(server):
    status, _ = server.request(
        "OPTIONS", "/predict", headers={"Origin": "http://elsewhere.example", "Access-Control-Request-Method": "POST"}
    )
    assert status == 405


def test_serving_beyond_loopback_needs_a_key(models_dir):
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "scripts", "serve.py"),
            "--host",
            "0.0.0.0",
            "--models-dir",
            str(models_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "CAPTCHA_KERAS_API_KEY"},
    )
    assert result.returncode == 2 and "--api-key" in result.stderr


def test_an_empty_models_dir_is_a_clear_error(tmp_path):
    (tmp_path / "empty").mkdir()
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(ROOT, "scripts", "serve.py"),
            "--models-dir",
            str(tmp_path / "empty"),
            "--port",
            str(free_port()),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0 and "No model to serve" in result.stdout + result.stderr
