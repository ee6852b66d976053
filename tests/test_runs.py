"""runs.py: a run folder's files, and finding a run: a path, the clone's saved_models/, the package's copy."""

import json
import os
import shutil

import pytest

from captcha_keras import runs


@pytest.fixture
def places(tmp_path, monkeypatch):
    """An empty clone folder and a package folder holding one packaged model, `tiny`."""
    clone, package = tmp_path / "saved_models", tmp_path / "packaged_models"
    clone.mkdir()
    (package / "tiny").mkdir(parents=True)
    (package / "tiny" / "config.json").write_text(json.dumps({"arch": "a", "family": "ctc", "charset": "01"}))
    (package / "tiny" / "model.onnx").write_bytes(b"onnx bytes")
    manifest = {"tiny": {f: runs.file_sha256(package / "tiny" / f) for f in ("config.json", "model.onnx")}}
    (package / "manifest.json").write_text(json.dumps(manifest))
    monkeypatch.setattr(runs, "SHIPPED_DIR", str(clone))
    monkeypatch.setattr(runs, "PACKAGED_DIR", str(package))
    monkeypatch.setattr(runs, "RUNS_DIR", str(tmp_path / "here" / "saved_models"))
    return clone, package


def test_a_packaged_model_is_found_by_name_and_listed(places):
    _, package = places
    assert runs.find_run("tiny") == str(package / "tiny")
    assert runs.shipped_runs() == ["tiny"]
    assert runs.available_formats(runs.find_run("tiny")) == ["onnx"]


def test_your_runs_then_the_clones_win_over_the_packaged_copy(places):
    clone, package = places
    shutil.copytree(package / "tiny", clone / "tiny")
    shutil.copytree(package / "tiny", clone / "mine")
    assert runs.find_run("tiny") == str(clone / "tiny")
    assert runs.find_run("tiny/") == str(clone / "tiny"), "a name completed by the shell"
    assert runs.shipped_runs() == ["mine", "tiny"]
    yours = os.path.join(runs.RUNS_DIR, "tiny")
    shutil.copytree(package / "tiny", yours)
    assert runs.find_run("tiny") == yours


def test_a_broken_manifest_is_a_broken_install(places):
    _, package = places
    (package / "manifest.json").write_text("{not json")
    with pytest.raises(runs.PackagedModelError, match="manifest.json is unreadable.*force-reinstall"):
        runs.find_run("tiny")
    (package / "manifest.json").unlink()
    with pytest.raises(runs.PackagedModelError, match="manifest.json is missing"):
        runs.shipped_runs()


@pytest.mark.parametrize(
    "damage, problem",
    [
        (lambda path: path.unlink(), "is missing"),
        (lambda path: path.write_bytes(b"onnx byte"), "is corrupt"),
    ],
    ids=["missing", "corrupt"],
)
def test_a_broken_packaged_model_names_the_file_and_the_reinstall(places, damage, problem):
    _, package = places
    damage(package / "tiny" / "model.onnx")
    with pytest.raises(runs.PackagedModelError) as error:
        runs.find_run("tiny")
    message = str(error.value)
    assert f"{package / 'tiny' / 'model.onnx'} {problem}" in message
    assert "pip install --force-reinstall --no-deps captcha-keras" in message


def test_an_unknown_name_lists_the_shipped_models(places, tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nor a shipped model\. Shipped models: tiny\."):
        runs.find_run("nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="it has no config.json"):
        runs.find_run(str(tmp_path / "empty"))


def test_the_base_model_is_the_clones_else_the_packaged_one(places):
    clone, package = places
    assert runs.base_model() is None  # no base_alnum anywhere
    base = package / runs.BASE_MODEL_NAME
    shutil.copytree(package / "tiny", base)
    (base / runs.BEST_MODEL_FILE).write_bytes(b"keras")
    manifest = json.loads((package / "manifest.json").read_text())
    manifest[runs.BASE_MODEL_NAME] = {f.name: runs.file_sha256(f) for f in base.iterdir()}
    (package / "manifest.json").write_text(json.dumps(manifest))
    assert runs.base_model() == str(base)
    shutil.copytree(base, clone / runs.BASE_MODEL_NAME)
    assert runs.base_model() == str(clone / runs.BASE_MODEL_NAME)


def test_export_files_split_from_their_run(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model_int8.tflite").write_bytes(b"x")
    assert runs.split_model_path(str(tmp_path / "run" / "model_int8.tflite")) == (str(tmp_path / "run"), "litert-int8")
    assert runs.split_model_path(str(tmp_path / "run")) is None
    with pytest.raises(ValueError, match="Unknown model format"):
        runs.export_path(str(tmp_path), "pt")


def test_the_package_carries_the_models_a_reader_needs():
    manifest = runs.packaged_manifest()
    assert {"ctc_default", "base_alnum"} <= set(manifest)
    assert runs.BEST_MODEL_FILE in manifest["base_alnum"]
    assert os.path.isdir(runs.PACKAGED_DIR)
