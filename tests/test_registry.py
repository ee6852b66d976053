"""captcha_keras.serving.registry: which runs a service loads, which model a request gets, what a reload adds.

A stand-in `Reader` keeps these to the registry's own logic; tests/test_serving.py loads real models.
"""

import json
import os
import types

import pytest

# Imported after the check: without the serve extra these modules cannot load, and the file is skipped.
pytest.importorskip("fastapi", reason="the service needs the serve extra: pip install -e .[serve]")

from captcha_keras.runs import DEFAULT_MODEL  # noqa: E402
from captcha_keras.serving import registry  # noqa: E402
from captcha_keras.serving.errors import ApiError  # noqa: E402
from captcha_keras.serving.registry import ModelRegistry  # noqa: E402


class StandInReader:
    """Loads a run as a `Reader` would, from its config.json; a run whose config says `broken` fails to load."""

    def __init__(self, path, **options):
        with open(os.path.join(path, "config.json")) as f:
            config = json.load(f)
        if config.get("broken"):
            raise ValueError(f"no model in {os.path.basename(path)}/savedmodel")
        self.path = path
        self.options = options
        self.config = types.SimpleNamespace(height=config["height"], width=config["width"], channels=3)
        self.calls = []

    def forward(self, batch):
        self.calls.append((batch.shape, str(batch.dtype), int(batch.sum())))


@pytest.fixture(autouse=True)
def stand_in(monkeypatch):
    monkeypatch.setattr(registry, "Reader", StandInReader)


def add_run(models_dir, name, broken=False, model=True):
    run = models_dir / name
    run.mkdir(parents=True, exist_ok=True)
    (run / "config.json").write_text(json.dumps({"height": 32, "width": 96, "broken": broken}))
    if model:
        (run / "savedmodel").mkdir(exist_ok=True)
    return run


def test_the_candidates_are_the_run_folders_or_the_names_given(tmp_path):
    add_run(tmp_path, "b")
    add_run(tmp_path, "a")
    add_run(tmp_path, "no_model", model=False)  # config.json alone is not a run
    (tmp_path / "notes").mkdir()
    (tmp_path / "README.txt").write_text("")
    assert ModelRegistry(str(tmp_path)).candidates() == ["a", "b"]
    assert ModelRegistry(str(tmp_path), names=["b", "zz"]).candidates() == ["b", "zz"]
    assert ModelRegistry(str(tmp_path / "missing")).candidates() == []


def test_load_warms_each_reader_up_and_records_the_runs_that_fail(tmp_path):
    add_run(tmp_path, "good")
    add_run(tmp_path, "broken", broken=True)
    models = ModelRegistry(str(tmp_path), max_pixels=1000)
    assert models.load() == ["good"]
    reader = models.readers["good"]
    # One traced call on a blank image of the model's shape, before any client waits for it.
    assert reader.calls == [((1, 32, 96, 3), "uint8", 0)] and reader.options == {"max_pixels": 1000}
    assert models.failed == {"broken": "ValueError: no model in broken/savedmodel"}


def test_a_reload_adds_new_runs_keeps_loaded_ones_and_retries_failed_ones(tmp_path):
    add_run(tmp_path, "good")
    add_run(tmp_path, "broken", broken=True)
    models = ModelRegistry(str(tmp_path))
    models.load()
    readers, failed, loaded = models.readers, models.failed, models.readers["good"]
    assert models.load() == []
    add_run(tmp_path, "later")
    add_run(tmp_path, "broken")  # fixed
    assert models.load() == ["broken", "later"]
    assert models.readers["good"] is loaded and models.failed == {}
    # New dicts each time, never changed in place: a request holding the old ones sees them whole.
    assert sorted(readers) == ["good"] and failed == {"broken": "ValueError: no model in broken/savedmodel"}
    assert sorted(models.readers) == ["broken", "good", "later"]


def test_only_the_names_given_are_loaded(tmp_path):
    add_run(tmp_path, "a")
    add_run(tmp_path, "b")
    models = ModelRegistry(str(tmp_path), names=["b", "missing"])
    assert models.load() == ["b"] and sorted(models.readers) == ["b"]
    assert models.failed["missing"].startswith("FileNotFoundError")


@pytest.mark.parametrize(
    "runs, default, expected",
    [
        (["a", "b", DEFAULT_MODEL], "b", "b"),  # the one asked for
        (["a", "b", DEFAULT_MODEL], "missing", DEFAULT_MODEL),  # not loaded: the shipped default
        (["b", "a"], None, "a"),  # neither: the first name
        ([], None, None),
    ],
)
def test_the_default_model(tmp_path, runs, default, expected):
    for name in runs:
        add_run(tmp_path, name)
    models = ModelRegistry(str(tmp_path), default=default)
    models.load()
    assert models.default == expected


def test_get_finds_a_model_by_name_or_the_default_and_refuses_others_with_a_404(tmp_path):
    add_run(tmp_path, "b")
    add_run(tmp_path, "a")
    models = ModelRegistry(str(tmp_path), default="b")
    models.load()
    assert models.get("a") is models.readers["a"]
    assert models.get() is models.get(None) is models.readers["b"]
    with pytest.raises(ApiError) as caught:
        models.get("nope")
    assert caught.value.to_dict() == {
        "status": 404,
        "message": "Unknown model 'nope'. Known models: a, b.",
        "models": ["a", "b"],
    }
    with pytest.raises(ApiError, match="Unknown model None. Known models: none."):
        ModelRegistry(str(tmp_path / "empty")).get()
