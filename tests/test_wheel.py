"""pip install and read: a wheel built from this checkout carries its models and reads without TensorFlow.

The wheel is built with `python -m build` and installed into a fresh venv
from the wheels scripts/setup.sh kept in `.venv/wheelhouse` (no network);
every program then runs from another folder, so nothing of the clone helps it.
"""

import json
import os
import shutil
import subprocess
import sys

import pytest
from helpers import ROOT
from helpers import Server

from captcha_keras.runs import PACKAGED_DIR
from captcha_keras.runs import SHIPPED_DIR
from captcha_keras.runs import packaged_manifest

WHEELHOUSE = os.path.join(sys.prefix, "wheelhouse")
# What a reading-only install must not bring.
TRAINING_PACKAGES = ("tensorflow", "keras", "tf2onnx", "captcha", "matplotlib")

READ_IN_A_FRESH_VENV = """
import json, sys
from captcha_keras import Reader
reader = Reader()
texts = [reader.read(path).text for path in sys.argv[1:]]
loaded = sorted({m.split(".")[0] for m in sys.modules} & {"tensorflow", "keras", "tf2onnx"})
print(json.dumps({"texts": texts, "loaded": loaded, "path": reader.path, "format": reader.format}))
"""


def run(command, cwd, check=True, env=None):
    result = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env)
    if check and result.returncode != 0:
        raise AssertionError(
            f"{command} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    """The wheel of this checkout, built as a release would be (`python -m build --wheel`).

    From a copy of what the wheel is made of, so that no earlier build's
    leftovers (setuptools reuses `build/lib`) can ship, and nothing is written into the checkout.
    """
    from bench_wheel import build_wheel

    return build_wheel(str(tmp_path_factory.mktemp("dist")))


@pytest.fixture(scope="module")
def reading_venv(wheel, tmp_path_factory):
    """A fresh venv holding the wheel and what reading needs, nothing else: its bin folder."""
    if not os.path.isdir(WHEELHOUSE):
        pytest.skip(f"{WHEELHOUSE} is missing: bash scripts/setup.sh keeps the wheels a fresh venv installs")
    venv = tmp_path_factory.mktemp("venv") / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=ROOT)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    run([*pip, "--no-index", "--find-links", WHEELHOUSE, str(wheel)], cwd=ROOT)
    return venv / "bin"


@pytest.fixture(scope="module")
def captchas(tmp_path_factory):
    """Fresh captchas of ctc_default's kind as PNG files, and the texts its packaged ONNX model reads of them here.

    The same file run by the same onnxruntime (the wheelhouse holds this
    venv's version) reads the same texts: exact equality asks nothing of
    float rounding. (That the ONNX texts equal the SavedModel's is the export's
    check and tests/test_shipped_models.py's; bench_wheel.py measures it on 500.)
    """
    from captcha_keras import Reader
    from captcha_keras.data.synthetic import draw_test_set
    from captcha_keras.export.checks import encode_png

    reference = Reader(os.path.join(PACKAGED_DIR, "ctc_default"), format="onnx")
    images, _ = draw_test_set(reference.config, 40, seed=3141)
    folder = tmp_path_factory.mktemp("captchas")
    paths = []
    for i, array in enumerate(images):
        paths.append(str(folder / f"{i}.png"))
        with open(paths[-1], "wb") as f:
            f.write(encode_png(array))
    return paths, [r.text for r in reference.read_many(paths)]


def test_the_wheel_carries_the_packaged_models_and_the_manifest(wheel):
    import zipfile

    names = set(zipfile.ZipFile(wheel).namelist())
    manifest = packaged_manifest()
    assert {"ctc_default", "base_alnum"} <= set(manifest)
    packaged = {n for n in names if n.startswith("captcha_keras/packaged_models/")}
    expected = {f"captcha_keras/packaged_models/{name}/{file}" for name, files in manifest.items() for file in files}
    assert packaged == expected | {"captcha_keras/packaged_models/manifest.json"}
    # The code is this checkout's, module for module.
    source = {
        os.path.relpath(os.path.join(folder, f), ROOT).replace(os.sep, "/")
        for folder, _, files in os.walk(os.path.join(ROOT, "captcha_keras"))
        for f in files
        if f.endswith(".py")
    }
    assert {n for n in names if n.endswith(".py")} == source
    assert not any("/savedmodel/" in n or n.startswith("saved_models/") for n in names)


def test_the_packaged_models_are_the_clones_very_files():
    """scripts/package_models.py copied them: a shipped model retrained without repackaging fails here."""
    from captcha_keras.runs import file_sha256

    for name, files in packaged_manifest().items():
        for file, sha256 in files.items():
            assert file_sha256(os.path.join(PACKAGED_DIR, name, file)) == sha256, (name, file)
            assert file_sha256(os.path.join(SHIPPED_DIR, name, file)) == sha256, (name, file)


def test_a_fresh_venv_reads_captchas_without_tensorflow(reading_venv, captchas, tmp_path):
    paths, expected = captchas
    installed = run([str(reading_venv / "python"), "-m", "pip", "list", "--format", "json"], cwd=tmp_path).stdout
    names = {p["name"].lower() for p in json.loads(installed)}
    assert "onnxruntime" in names and not names & set(TRAINING_PACKAGES), names
    result = run([str(reading_venv / "python"), "-c", READ_IN_A_FRESH_VENV, *paths], cwd=tmp_path)
    read = json.loads(result.stdout.strip().splitlines()[-1])
    assert read["loaded"] == [] and read["format"] == "onnx"
    assert read["path"].endswith(os.path.join("captcha_keras", "packaged_models", "ctc_default"))
    assert read["texts"] == expected


def test_the_read_command_and_version_of_the_installed_wheel(reading_venv, captchas, tmp_path):
    from captcha_keras import __version__

    paths, expected = captchas
    command = str(reading_venv / "captcha-keras")
    assert run([command, "--version"], cwd=tmp_path).stdout.strip() == f"captcha-keras {__version__}"
    lines = run([command, "read", *paths[:3]], cwd=tmp_path).stdout.strip().splitlines()
    assert [line.split("\t")[:2] for line in lines] == [[p, t] for p, t in zip(paths[:3], expected)]
    # Abstention: the least sure of the readings, asked for a little more than its confidence.
    readings = json.loads(run([command, "read", *paths, "--json"], cwd=tmp_path).stdout)
    assert [r["text"] for r in readings] == expected and not any(r["abstained"] for r in readings)
    unsure = min(readings, key=lambda r: r["confidence"])
    assert unsure["confidence"] < 1.0, "the least sure of 40 readings is not certain"
    threshold = f"{(unsure['confidence'] + 1.0) / 2:.9f}"
    again = json.loads(
        run([command, "read", unsure["file"], "--json", "--min-confidence", threshold], cwd=tmp_path).stdout
    )
    assert (
        again[0]["text"] is None
        and again[0]["abstained"]
        and f"below min_confidence {float(threshold):g}" in again[0]["reason"]
    )
    # What needs an extra says which, in one line, instead of a traceback.
    training = run([command, "train-ctc", "--help"], cwd=tmp_path, check=False)
    assert training.returncode == 2 and training.stderr.strip().count("\n") == 0
    assert "needs the 'train' extra" in training.stderr and "pip install 'captcha-keras[train]'" in training.stderr


def test_a_broken_install_names_the_file_and_the_reinstall(reading_venv, tmp_path):
    site = run(
        [
            str(reading_venv / "python"),
            "-c",
            "import captcha_keras, os; print(os.path.dirname(captcha_keras.__file__))",
        ],
        cwd=tmp_path,
    ).stdout.strip()
    broken = tmp_path / "site"
    shutil.copytree(site, broken / "captcha_keras")
    model = broken / "captcha_keras" / "packaged_models" / "ctc_default" / "model.onnx"
    env = {**os.environ, "PYTHONPATH": str(broken)}
    for damage, message in (
        (lambda: model.write_bytes(model.read_bytes()[:1000]), "is corrupt"),
        (model.unlink, "is missing"),
    ):
        damage()
        result = run([str(reading_venv / "captcha-keras"), "read", "x.png"], cwd=tmp_path, check=False, env=env)
        assert result.returncode == 2, result.stderr
        assert f"{model} {message}" in result.stderr and "pip install --force-reinstall" in result.stderr
    unknown = run([str(reading_venv / "captcha-keras"), "read", "--model", "nope", "x.png"], cwd=tmp_path, check=False)
    assert unknown.returncode == 2
    assert f"Shipped models: {', '.join(sorted(packaged_manifest()))}." in unknown.stderr


def test_with_the_training_extra_the_wheel_trains_from_and_serves_its_packaged_models(wheel, tmp_path):
    """The wheel's files over this venv's TensorFlow and Keras, run from another folder: a CTC folder run
    starts from the packaged base model, and the service serves the packaged models."""
    target = tmp_path / "installed"
    run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target), str(wheel)], cwd=ROOT)
    env = {"PYTHONPATH": str(target)}
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    # What `train_ctc.py --data DIR` settles before training: where it starts, and that the model loads.
    script = (
        "import sys; from captcha_keras.training.config import TrainConfig; "
        "from captcha_keras.training.finetune import load_source; "
        "config = TrainConfig(family='ctc', data=sys.argv[1]); load_source(config.init_from); print(config.init_from)"
    )
    data = os.path.join(ROOT, "tests", "fixtures", "really_simple_captcha", "images")
    result = run([sys.executable, "-c", script, data], cwd=elsewhere, env={**os.environ, **env})
    start = result.stdout.strip().splitlines()[-1]
    assert start == str(target / "captcha_keras" / "packaged_models" / "base_alnum")
    server = Server(
        None, command=[sys.executable, "-m", "captcha_keras", "serve"], env=env, cwd=elsewhere, log_dir=str(tmp_path)
    )
    try:
        status, body = server.request("GET", "/models")
        assert status == 200
        served = {m["name"]: m for m in body["models"]}
        assert set(served) == set(packaged_manifest())
        assert all(m["format"] == "onnx" for m in served.values())
    finally:
        server.stop()
