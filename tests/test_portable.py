"""ONNX and LiteRT exports: written by export.py, checked against the SavedModel, read without TensorFlow."""

import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT
from conftest import run_script
from PIL import Image

from captcha_keras.data.synthetic import render_captcha
from captcha_keras.inference.runtimes import FORMATS

EXPORTS = [("onnx", None), ("litert", None), ("litert", "dynamic"), ("litert", "int8")]
# The multi-head run: the float and int8 paths (dynamic is the same converter as int8 without calibration).
MULTIHEAD_EXPORTS = [("onnx", None), ("litert", "int8")]


@pytest.fixture(scope="module")
def exported(ctc_run, cnn_run, tmp_path_factory):
    """Copies of the tiny runs with every export written by export.py: `{family: run_dir}`."""
    runs = {}
    for family, (run_dir, _) in (("ctc", ctc_run), ("multihead", cnn_run)):
        copy = tmp_path_factory.mktemp(family) / "run"
        shutil.copytree(run_dir, copy)
        for format, quantize in EXPORTS if family == "ctc" else MULTIHEAD_EXPORTS:
            flags = ["--quantize", quantize] if quantize else []
            report = copy / f"{format}-{quantize}.json"
            result = run_script("export.py", "--model", copy, "--format", format, *flags, "--check-samples", "60",
                                "--calibration-samples", "20", "--json", report)
            (figures,) = json.loads(report.read_text())
            assert figures["check"]["samples"] == 60 and os.path.getsize(figures["path"]) == figures["bytes"]
            if quantize:
                assert "right against the SavedModel's" in result.stdout
            else:
                assert figures["check"]["differences"] == 0 and "texts equal" in result.stdout
        runs[family] = copy
    return runs


def captcha_files(folder, count=12):
    folder.mkdir(exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"{i}.png"
        Image.fromarray(render_captcha("0123456789"[i % 10] * (2 + i % 2), i, 64, 32)).save(path)
        paths.append(str(path))
    return paths


def test_every_export_is_written_where_the_runtimes_find_it(exported):
    for family, run_dir in exported.items():
        names = ("onnx", "litert", "litert-dynamic", "litert-int8") if family == "ctc" else ("onnx", "litert-int8")
        for name in names:
            assert (run_dir / FORMATS[name]).is_file()
        assert not [p for p in os.listdir(run_dir) if ".new" in p], "no temporary file left behind"
        # Quantized weights: smaller than the float model.
        assert os.path.getsize(run_dir / "model_int8.tflite") < os.path.getsize(run_dir / "model.onnx") / 2


WITHOUT_TENSORFLOW = """
import json, sys
from captcha_keras import Reader
texts = {}
for name in sys.argv[2:]:
    reader = Reader(sys.argv[1] + "/" + name)
    texts[name] = [r.text for r in reader.read_many(open(sys.argv[1] + "/paths.txt").read().split())]
    assert reader.info()["format"] != "savedmodel"
loaded = sorted(m for m in sys.modules if m.split(".")[0] in ("tensorflow", "keras", "tf2onnx"))
assert not loaded, loaded
print(json.dumps(texts))
"""


@pytest.mark.parametrize("family", ["ctc", "multihead"])
def test_reader_reads_onnx_and_litert_without_tensorflow_as_the_savedmodel_does(exported, family, tmp_path):
    from captcha_keras import Reader

    run_dir = exported[family]
    paths = captcha_files(tmp_path / "images")
    (run_dir / "paths.txt").write_text("\n".join(paths))
    files = ["model.onnx", "model_int8.tflite"] + (["model.tflite", "model_dynamic.tflite"] if family == "ctc" else [])
    result = subprocess.run([sys.executable, "-c", WITHOUT_TENSORFLOW, str(run_dir), *files],
                            capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    texts = json.loads(result.stdout.strip().splitlines()[-1])
    expected = [r.text for r in Reader(str(run_dir)).read_many(paths)]
    assert texts["model.onnx"] == expected and texts.get("model.tflite", expected) == expected
    for name in ("model_int8.tflite", "model_dynamic.tflite")[: 2 if family == "ctc" else 1]:  # the same kind of texts
        assert len(texts[name]) == len(paths) and all(set(t) <= set("0123456789") for t in texts[name])


def test_reader_format_argument_and_errors_name_the_missing_export(exported, ctc_run):
    from captcha_keras import Reader

    reader = Reader(str(exported["ctc"]), format="litert-int8")
    assert reader.info()["format"] == "litert-int8" and reader.name == "run"
    with pytest.raises(FileNotFoundError, match=r"has no onnx export \(model.onnx\).*--format onnx"):
        Reader(str(ctc_run[0]), format="onnx")
    with pytest.raises(ValueError, match="Unknown model format"):
        Reader(str(ctc_run[0]), format="pt")
    with pytest.raises(ValueError, match="is a onnx model, not litert"):
        Reader(str(exported["ctc"] / "model.onnx"), format="litert")


def test_predict_script_reads_an_export_file_and_a_format(exported, tmp_path):
    paths = captcha_files(tmp_path / "images", count=4)
    by_file = run_script("predict.py", "--model", exported["ctc"] / "model_int8.tflite", *paths)
    by_flag = run_script("predict.py", "--model", exported["ctc"], "--format", "litert-int8", *paths)
    assert by_file.stdout == by_flag.stdout and len(by_file.stdout.strip().splitlines()) == 4


def test_a_failed_check_leaves_the_earlier_export_in_place(exported, monkeypatch, tmp_path):
    import keras

    from captcha_keras.export import run as export_module
    from captcha_keras.export.checks import ExportCheckError
    from captcha_keras.export.portable import write_onnx

    run_dir = tmp_path / "run"
    shutil.copytree(exported["ctc"], run_dir)
    before = (run_dir / "model.onnx").read_bytes()

    def write_another_model(model, path):
        # A model of the same shape with other weights reads other texts.
        other = keras.models.clone_model(model)
        other.set_weights([np.random.default_rng(0).normal(size=w.shape).astype("float32") for w in model.get_weights()])
        return write_onnx(other, path)

    monkeypatch.setattr(export_module, "write_onnx", write_another_model)
    with pytest.raises(ExportCheckError, match=r"read \d+ of 60 captchas differently from the SavedModel"):
        export_module.export_run(str(run_dir), "onnx", samples=60, log=lambda line: None)
    assert (run_dir / "model.onnx").read_bytes() == before
    assert not [p for p in os.listdir(run_dir) if ".new" in p]


@pytest.mark.parametrize("flags, message", [
    (["--format", "onnx", "--quantize", "int8"], "applies to LiteRT exports only"),
    (["--format", "litert", "--check-samples", "0"], "--check-samples must be at least 1"),
])
def test_export_script_refuses_bad_flags(ctc_run, flags, message):
    result = run_script("export.py", "--model", ctc_run[0], *flags, check=False)
    assert result.returncode == 2 and message in result.stderr


def test_the_service_reads_with_an_onnx_model(exported, tmp_path):
    from test_serving import Server

    from captcha_keras import Reader

    models = tmp_path / "models"
    models.mkdir()
    shutil.copytree(exported["ctc"], models / "tiny")
    server = Server(models, "--format", "onnx")
    try:
        status, info = server.request("GET", "/models")
        assert status == 200 and info["models"][0]["format"] == "onnx"
        paths = captcha_files(tmp_path / "images", count=3)
        buffer = io.BytesIO()
        Image.open(paths[0]).save(buffer, "PNG")
        status, body = server.post_files([("a.png", buffer.getvalue())])
        assert status == 200
        expected = Reader(str(models / "tiny"), format="onnx").read(paths[0]).text
        assert body["results"][0]["text"] == expected
    finally:
        server.stop()
