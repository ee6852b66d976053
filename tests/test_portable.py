"""ONNX and LiteRT exports: written by export.py, checked against the SavedModel, read without TensorFlow."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from helpers import ROOT
from helpers import RSC_IMAGES
from helpers import SHIPPED
from helpers import run_script

from captcha_keras.runs import FORMATS

EXPORTS = [("onnx", None), ("litert", None), ("litert", "dynamic"), ("litert", "int8")]
# The multi-head run: the float and int8 paths (dynamic is the same converter as int8 without calibration).
MULTIHEAD_EXPORTS = [("onnx", None), ("litert", "int8")]
# Shipped runs, which read with clear margins: a float export's texts equal the SavedModel's whatever the CPU's
# rounding, where a tiny, nearly untrained run's near ties make them a matter of rounding. The CTC folder run is
# checked and calibrated on the labelled really-simple-captcha images kept with the tests (it reads them all);
# the multi-head one on captchas drawn in its style, as a synthetic run's export is checked by default.
RUNS = {
    "ctc": ("really_simple_captcha", EXPORTS, {"check_data": RSC_IMAGES, "calibration_data": RSC_IMAGES}),
    "multihead": ("cnn_default", MULTIHEAD_EXPORTS, {}),
}
# Texts of a float export are compared where the SavedModel reads the text with at least this probability:
# a rounding error cannot lift another text above it, when all others share the 0.1 left.
CONFIDENT = 0.9


def export(run_dir, format, quantize, data):
    """One export of `run_dir` checked on 60 images: its figures and the lines it printed.

    The first export of each run goes through scripts/export.py, the others
    through `export_run` in this process, as the script calls it (a new
    process would import TensorFlow again for each).
    """
    if format == "onnx":
        report = os.path.join(run_dir, f"{format}.json")
        flags = [f"--{k.replace('_', '-')}={v}" for k, v in data.items()]
        result = run_script(
            "export.py", "--model", run_dir, "--format", format, *flags, "--check-samples", "60", "--json", report
        )
        (figures,) = json.loads(open(report).read())
        return figures, result.stdout
    from captcha_keras.export.run import export_run

    lines = []
    figures = export_run(
        str(run_dir), format, quantize=quantize, samples=60, calibration_samples=20, log=lines.append, **data
    )
    return figures, "\n".join(lines)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Copies of shipped runs with every export written and checked: `{family: run_dir}`."""
    runs = {}
    for family, (name, exports, data) in RUNS.items():
        copy = tmp_path_factory.mktemp(family) / "run"
        # Without exports a checkout may have written into saved_models/, so that every file here is this test's.
        shutil.copytree(os.path.join(SHIPPED, name), copy, ignore=shutil.ignore_patterns("*.onnx", "*.tflite"))
        for format, quantize in exports:
            figures, printed = export(copy, format, quantize, data)
            check = figures["check"]
            assert check["samples"] == 60 and os.path.getsize(figures["path"]) == figures["bytes"]
            if quantize:
                # The check is paired and says that 60 captchas cannot detect a small drop.
                assert check["savedmodel_accuracy"] >= 0.9, "the check images are of the model's kind"
                assert {"lost", "gained", "p_value", "detectable_drop"} <= set(check) and check["p_value"] >= 0.001
                assert "right against the SavedModel's" in printed
                assert "60 captchas can only detect a drop of 18.3 points or more" in printed
            else:
                assert check["differences"] == 0 and "texts equal" in printed
        runs[family] = copy
    return runs


def captcha_files(family, folder, count=12):
    """Paths of `count` images of the kind the family's shipped run reads: fixture files, or captchas in its style."""
    if family == "ctc":
        return [os.path.join(RSC_IMAGES, name) for name in sorted(os.listdir(RSC_IMAGES))[:count]]
    from captcha_keras.data.synthetic import draw_test_set
    from captcha_keras.export.checks import encode_png
    from captcha_keras.runs import RunConfig

    images, _ = draw_test_set(RunConfig.load(os.path.join(SHIPPED, RUNS[family][0])), count, seed=31, workers=1)
    folder.mkdir(exist_ok=True)
    paths = [str(folder / f"{i}.png") for i in range(count)]
    for path, image in zip(paths, images):
        with open(path, "wb") as f:
            f.write(encode_png(image))
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
    paths = captcha_files(family, tmp_path / "images", count=40)
    (run_dir / "paths.txt").write_text("\n".join(paths))
    floats = ["model.onnx"] + (["model.tflite"] if family == "ctc" else [])
    quantized = ["model_int8.tflite"] + (["model_dynamic.tflite"] if family == "ctc" else [])
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_TENSORFLOW, str(run_dir), *floats, *quantized],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    texts = json.loads(result.stdout.strip().splitlines()[-1])
    readings = Reader(str(run_dir), format="savedmodel").read_many(paths)
    confident = [i for i, r in enumerate(readings) if r.confidence >= CONFIDENT]
    assert len(confident) >= 0.8 * len(paths), "the images are of the kind the model reads"
    expected = [readings[i].text for i in confident]
    for name in floats:  # the same texts
        assert [texts[name][i] for i in confident] == expected, name
    for name in quantized:
        # Quantization moves the probabilities a little: a few confident readings may differ, not one in ten.
        agree = sum(texts[name][i] == readings[i].text for i in confident)
        assert agree >= 0.9 * len(confident), f"{name}: {agree} of {len(confident)} texts as the SavedModel's"


def test_reader_format_argument_and_errors_name_the_missing_export(exported, tmp_path):
    from captcha_keras import Reader

    reader = Reader(str(exported["ctc"]), format="litert-int8")
    assert reader.info()["format"] == "litert-int8" and reader.name == "run"
    unexported = tmp_path / "unexported"
    shutil.copytree(exported["ctc"], unexported, ignore=shutil.ignore_patterns("*.onnx", "*.tflite"))
    with pytest.raises(FileNotFoundError, match=r"has no onnx export \(model.onnx\).*--format onnx"):
        Reader(str(unexported), format="onnx")
    with pytest.raises(ValueError, match="Unknown model format"):
        Reader(str(unexported), format="pt")
    with pytest.raises(ValueError, match="is a model of format onnx, not litert"):
        Reader(str(exported["ctc"] / "model.onnx"), format="litert")


def test_predict_script_reads_an_export_file_and_a_format(exported, tmp_path):
    paths = captcha_files("ctc", tmp_path / "images", count=4)
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
        other.set_weights(
            [np.random.default_rng(0).normal(size=w.shape).astype("float32") for w in model.get_weights()]
        )
        return write_onnx(other, path)

    monkeypatch.setattr(export_module, "write_onnx", write_another_model)
    with pytest.raises(ExportCheckError, match=r"read \d+ of 60 captchas differently from the SavedModel"):
        export_module.export_run(str(run_dir), "onnx", samples=60, check_data=RSC_IMAGES, log=lambda line: None)
    assert (run_dir / "model.onnx").read_bytes() == before
    assert not [p for p in os.listdir(run_dir) if ".new" in p]


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--format", "onnx", "--quantize", "int8"], "applies to LiteRT exports only"),
        (["--format", "litert", "--check-samples", "0"], "--check-samples must be at least 1"),
    ],
)
def test_export_script_refuses_bad_flags(flags, message):
    # Refused before the run is opened: nothing is written into the shipped folder.
    result = run_script("export.py", "--model", os.path.join(SHIPPED, "really_simple_captcha"), *flags, check=False)
    assert result.returncode == 2 and message in result.stderr


def test_the_service_reads_with_an_onnx_model(exported, tmp_path):
    from helpers import Server

    from captcha_keras import Reader

    models = tmp_path / "models"
    models.mkdir()
    shutil.copytree(exported["ctc"], models / "rsc")
    server = Server(models, "--format", "onnx")
    try:
        status, info = server.request("GET", "/models")
        assert status == 200 and info["models"][0]["format"] == "onnx"
        (path,) = captcha_files("ctc", tmp_path / "images", count=1)
        with open(path, "rb") as f:
            status, body = server.post_files([("a.png", f.read())])
        assert status == 200
        expected = Reader(str(models / "rsc"), format="onnx").read(path).text
        assert body["results"][0]["text"] == expected
    finally:
        server.stop()
