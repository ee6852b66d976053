"""Training on labelled folders: batches, augmentation, held-out files, fine-tuning, evaluation."""

import os

import keras
import numpy as np
import pytest
from helpers import ROOT
from helpers import read_json
from helpers import run_script

from captcha_keras.charset import Charset
from captcha_keras.data.augment import Augmentation
from captcha_keras.data.folder import read_folder
from captcha_keras.data.folder_stream import FolderCaptchas
from captcha_keras.models import build_model
from captcha_keras.training.finetune import class_map
from captcha_keras.training.finetune import output_layer_names
from captcha_keras.training.finetune import transfer_output_classes
from captcha_keras.training.finetune import transfer_weights

FIXTURE = os.path.join(ROOT, "tests", "fixtures", "really_simple_captcha", "images")
RSC_CHARSET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
TINY_FOLDER_TRAINING = [
    "--width",
    "64",
    "--height",
    "32",
    "--batch-size",
    "16",
    "--steps",
    "3",
    "--epochs",
    "1",
    "--fine-tune-epochs",
    "1",
    "--workers",
    "1",
    "--verbose",
    "2",
]


@pytest.fixture(scope="module")
def fixture_data():
    return read_folder(FIXTURE, 64, 32, 1, progress=None)


@pytest.fixture(scope="module")
def folder_run(tmp_path_factory):
    """A tiny CTC run on the real fixture folder with a 20% held-out split."""
    root = tmp_path_factory.mktemp("folder")
    run_script(
        "train_ctc.py",
        *TINY_FOLDER_TRAINING,
        "--data",
        FIXTURE,
        "--val-split",
        "0.2",
        "--run-name",
        "rsc",
        "--output-dir",
        root / "m",
        "--logs-dir",
        root / "l",
    )
    return root / "m" / "rsc"


def test_augmentation_is_seeded_and_keeps_the_shape(fixture_data):
    images = fixture_data.images[:8]
    augment = Augmentation()
    first = augment(images, np.random.default_rng(1))
    again = augment(images, np.random.default_rng(1))
    other = augment(images, np.random.default_rng(2))
    assert first.shape == images.shape and first.dtype == np.uint8
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first, images)


def test_zero_strength_augmentation_is_the_identity(fixture_data):
    images = fixture_data.images[:4]
    none = Augmentation(shift=0, rotation=0, scale=0, blur=0, noise=0)
    np.testing.assert_array_equal(none(images, np.random.default_rng(0)), images)


def test_folder_batches_are_a_function_of_seed_epoch_and_index(fixture_data):
    charset = Charset(RSC_CHARSET)

    def batches(seed):
        data = FolderCaptchas(fixture_data, charset, "ctc", 4, batch_size=32, augmentation=Augmentation(), seed=seed)
        first = data[1]
        data.on_epoch_begin()
        data.on_epoch_end()
        return first, data[1]

    (a0, ya0), (a1, ya1) = batches(0)
    (b0, yb0), _ = batches(0)
    (c0, _), _ = batches(5)
    np.testing.assert_array_equal(a0, b0)
    np.testing.assert_array_equal(ya0, yb0)
    assert not np.array_equal(a0, a1), "a new epoch reshuffles"
    assert not np.array_equal(a0, c0)
    assert a0.shape == (32, 32, 64, 1) and ya0.shape == (32, 4)


def test_tiny_folders_still_make_epochs_long_enough(fixture_data):
    data = FolderCaptchas(fixture_data, Charset(RSC_CHARSET), "ctc", 4, batch_size=128, min_steps=20)
    assert len(data) == 20
    assert set(data._order.tolist()) == set(range(len(fixture_data.files))), "every image is used"


@pytest.mark.parametrize("init_from, steps", [(None, 100), ("saved_models/base_alnum", 25)])
def test_folder_epochs_are_shorter_from_a_trained_model(init_from, steps):
    from captcha_keras.data.splits import load_splits
    from captcha_keras.training.config import TrainConfig
    from captcha_keras.training.streams import make_folder_data

    config = TrainConfig(data=FIXTURE, init_from=init_from or "none", width=64, height=32, max_minutes=0)
    config.max_length = 4
    splits = load_splits(FIXTURE, width=64, height=32, channels=1, seed=0, val_split=0.1)
    train, images, texts = make_folder_data(config, Charset(RSC_CHARSET), splits)
    # 270 training images fill 3 batches of 128: an epoch is the minimum, and
    # a run from scratch needs the long one for its blank phase.
    assert len(train) == steps and len(images) == len(texts) == 30


def test_labels_of_folder_batches_match_their_files(fixture_data):
    charset = Charset(RSC_CHARSET)
    data = FolderCaptchas(fixture_data, charset, "multihead", 4, batch_size=8, seed=3)
    images, targets = data[0]
    picks = data._order[:8]
    for row, index in enumerate(picks):
        text = "".join(charset.characters[targets[f"c{k + 1}"][row]] for k in range(4))
        assert text == fixture_data.texts[index]
        np.testing.assert_array_equal(images[row], fixture_data.images[index])


def test_transfer_weights_rebuilds_only_the_output_for_another_charset():
    source = build_model("crnn_ctc_fast", 32, height=32, width=64, channels=1)
    target = build_model("crnn_ctc_fast", 10, height=32, width=64, channels=1)
    copied, rebuilt = transfer_weights(source, target)
    assert rebuilt == ["probs"]
    assert "bigru1" in copied or any(name.startswith("bigru") for name in copied)
    conv = copied[0]
    for a, b in zip(source.get_layer(conv).get_weights(), target.get_layer(conv).get_weights()):
        np.testing.assert_array_equal(a, b)
    same_size = build_model("crnn_ctc_fast", 32, height=32, width=64, channels=1)
    _, rebuilt = transfer_weights(source, same_size, reset=output_layer_names(same_size))
    assert rebuilt == ["probs"], "same shape, other characters: the output layer still starts afresh"


def test_an_rgb_run_from_a_gray_model_starts_reading_as_the_gray_model():
    """The first convolution spread over R, G, B with the luma weights: colour in, the gray model's outputs out."""
    from captcha_keras.models.svtr import build_svtr  # noqa: F401 (registers the layers of every architecture)

    keras.utils.set_random_seed(3)
    colour = np.random.default_rng(0).uniform(0, 255, (2, 32, 64, 3)).astype("float32")
    gray = (colour @ np.asarray([0.299, 0.587, 0.114], "float32"))[..., None]
    # A conv stack with a BatchNorm after the first convolution, and SVTR's patch embedding.
    small = {"crnn_ctc_fast_wide": {}, "svtr_tiny": {"dims": (8, 16, 16), "depths": (1, 1, 1), "heads": (2, 2, 2)}}
    for arch, kwargs in small.items():
        source = build_model(arch, 10, height=32, width=64, channels=1, **kwargs)
        target = build_model(arch, 10, height=32, width=64, channels=3, **kwargs)
        copied, rebuilt = transfer_weights(source, target)
        assert rebuilt == [], arch
        np.testing.assert_allclose(target.predict(colour, verbose=0), source.predict(gray, verbose=0), atol=2e-5)
        # And back: an RGB model's channels summed read a gray image as it reads the image in three equal channels.
        back = build_model(arch, 10, height=32, width=64, channels=1, **kwargs)
        assert transfer_weights(target, back)[1] == []
        np.testing.assert_allclose(
            back.predict(gray, verbose=0), target.predict(np.repeat(gray, 3, -1), verbose=0), atol=2e-5
        )


def test_a_new_charset_keeps_the_output_weights_of_the_characters_both_have():
    source = build_model("crnn_ctc_fast", 4, height=32, width=64, channels=1)  # "ABCD" + blank
    target = build_model("crnn_ctc_fast", 3, height=32, width=64, channels=1)  # "DAZ" + blank
    mapping = class_map("ABCD", "DAZ", 1)
    assert mapping == [3, 0, -1, 4]
    fresh = [w.copy() for w in target.get_layer("probs").get_weights()]
    assert transfer_output_classes(source.get_layer("probs"), target.get_layer("probs"), mapping) == 3
    old, new = source.get_layer("probs").get_weights(), target.get_layer("probs").get_weights()
    for a, b, f in zip(old, new, fresh):
        np.testing.assert_array_equal(b[..., 0], a[..., 3])  # D
        np.testing.assert_array_equal(b[..., 1], a[..., 0])  # A
        np.testing.assert_array_equal(b[..., 2], f[..., 2])  # Z: as initialised
        np.testing.assert_array_equal(b[..., 3], a[..., 4])  # the blank
    wider = build_model("crnn_ctc_fast_wide", 3, height=32, width=64, channels=1)  # 256 features, not 128
    assert transfer_output_classes(source.get_layer("probs"), wider.get_layer("probs"), mapping) == 0


def test_folder_run_records_its_heldout_files(folder_run):
    heldout = (folder_run / "heldout.txt").read_text().split()
    assert len(heldout) == 60
    assert all(os.path.isfile(os.path.join(FIXTURE, name)) for name in heldout)
    metrics = read_json(folder_run / "metrics.json")
    assert metrics["samples"] == 60
    config = read_json(folder_run / "config.json")
    assert config["charset"] == RSC_CHARSET, "the charset comes from the labels"
    assert config["min_length"] == config["max_length"] == 4


def test_the_split_is_the_same_for_the_same_seed(folder_run):
    from captcha_keras.data.splits import load_splits

    # In this process, what the run's process held out: the split depends on the seed alone.
    again = load_splits(FIXTURE, width=64, height=32, channels=1, seed=0, val_split=0.2)
    assert again.heldout == (folder_run / "heldout.txt").read_text().split()
    other = load_splits(FIXTURE, width=64, height=32, channels=1, seed=1, val_split=0.2)
    assert other.heldout != again.heldout and len(other.heldout) == len(again.heldout)


def test_evaluate_rescores_the_heldout_files(folder_run, tmp_path):
    out = tmp_path / "scores.json"
    errors = tmp_path / "errors.png"
    run_script(
        "evaluate.py",
        "--model",
        folder_run,
        "--data",
        FIXTURE,
        "--only",
        folder_run / "heldout.txt",
        "--json",
        out,
        "--errors-png",
        errors,
    )
    scores, metrics = read_json(out), read_json(folder_run / "metrics.json")
    assert scores["samples"] == metrics["samples"] == 60
    assert scores["sequence_accuracy"] == pytest.approx(metrics["sequence_accuracy"])
    assert errors.stat().st_size > 1000
    # Restricted to what the set has (all of the charset, length 4), the readings are the same.
    run_script(
        "evaluate.py",
        "--model",
        folder_run,
        "--data",
        FIXTURE,
        "--only",
        folder_run / "heldout.txt",
        "--restrict-charset",
        RSC_CHARSET[::-1],
        "--restrict-length",
        "4",
        "--json",
        out,
    )
    restricted = read_json(out)
    assert restricted["restrict_charset"] == RSC_CHARSET[::-1] and restricted["restrict_length"] == "4"
    assert restricted["sequence_accuracy"] == pytest.approx(metrics["sequence_accuracy"])


def test_fine_tuning_starts_from_the_trained_weights(folder_run, tmp_path):
    result = run_script(
        "train_ctc.py",
        "--data",
        FIXTURE,
        "--init-from",
        folder_run,
        "--synthetic-ratio",
        "0.25",
        "--cache-size",
        "256",
        "--batch-size",
        "16",
        "--steps",
        "2",
        "--epochs",
        "1",
        "--fine-tune-epochs",
        "0",
        "--workers",
        "1",
        "--verbose",
        "2",
        "--run-name",
        "tuned",
        "--output-dir",
        tmp_path,
        "--logs-dir",
        tmp_path / "l",
    )
    assert "freshly initialised: none" in result.stdout
    config = read_json(tmp_path / "tuned" / "config.json")
    # The source's height (its GRU reads columns that high), the images' 3:1 aspect ratio at it.
    assert (config["width"], config["height"], config["charset"]) == (96, 32, RSC_CHARSET)


def test_fine_tuning_to_another_charset_rebuilds_the_output_layer(folder_run, tmp_path):
    source = keras.models.load_model(folder_run / "best.keras", compile=False)
    result = run_script(
        "train_ctc.py",
        "--charset",
        "digits",
        "--init-from",
        folder_run,
        "--cache-size",
        "0",
        "--batch-size",
        "8",
        "--steps",
        "1",
        "--val-steps",
        "1",
        "--epochs",
        "1",
        "--fine-tune-epochs",
        "0",
        "--eval-samples",
        "8",
        "--workers",
        "1",
        "--verbose",
        "2",
        "--run-name",
        "digits",
        "--output-dir",
        tmp_path,
        "--logs-dir",
        tmp_path / "l",
    )
    assert "freshly initialised: probs" in result.stdout
    assert "probs starts from the source's weights for 8 of its 10 characters" in result.stdout  # 2-9
    tuned = keras.models.load_model(tmp_path / "digits" / "best.keras", compile=False)
    assert tuned.output_shape[-1] == 11 and source.output_shape[-1] == 33


def test_a_ctc_folder_run_starts_from_the_shipped_base_model_by_default():
    from captcha_keras.runs import SHIPPED_DIR
    from captcha_keras.training.config import MIN_EPOCHS_FROM_TRAINED
    from captcha_keras.training.config import TrainConfig

    config = TrainConfig(family="ctc", data=FIXTURE)
    # In a clone, the clone's copy (a wheel's install starts from the package's: test_wheel.py).
    assert config.init_from == os.path.join(SHIPPED_DIR, "base_alnum")
    assert os.path.isfile(os.path.join(config.init_from, "best.keras"))
    assert config.min_epochs == MIN_EPOCHS_FROM_TRAINED
    assert TrainConfig(family="ctc", data=FIXTURE, min_epochs=4).min_epochs == 4
    explicit = TrainConfig(family="ctc", data=FIXTURE, init_from="saved_models/ctc_default", height=32)
    assert explicit.init_from == "saved_models/ctc_default" and explicit.min_epochs == MIN_EPOCHS_FROM_TRAINED
    # --rgb starts from the gray base too (its first convolution widened: test above), and says it keeps RGB.
    rgb = TrainConfig(family="ctc", data=FIXTURE, grayscale=False)
    assert rgb.init_from == config.init_from and rgb.channels_chosen and not rgb.grayscale


def test_a_folder_run_from_the_base_reads_only_its_labels_characters_in_the_channels_asked(capsys):
    from captcha_keras.data.folder import scan_folder
    from captcha_keras.data.labels import labels_charset
    from captcha_keras.training.config import TrainConfig
    from captcha_keras.training.inputs import resolve_inputs

    labels = labels_charset(scan_folder(FIXTURE).labels)
    config = TrainConfig(family="ctc", data=FIXTURE, grayscale=False)
    _, source_model, source = resolve_inputs(config)
    out = capsys.readouterr().out
    assert len(source.charset) == 62 and source.channels == 1
    assert config.charset == labels and len(labels) < 62
    assert f"Charset: the labels' {len(labels)} characters {labels!r} of " in out
    assert (
        not config.grayscale and "It reads gray images; this run reads RGB: its first convolution is converted" in out
    )
    # Told --charset, the run reads what it names (here the base's own), labels or not.
    config = TrainConfig(family="ctc", data=FIXTURE, charset=source.charset)
    resolve_inputs(config)
    assert config.charset == source.charset and config.grayscale


def test_a_resumed_run_keeps_the_charset_and_channels_it_started_with(tmp_path):
    """A run started before the labels' characters became the default resumes with the 62 it recorded."""
    from captcha_keras.charset import Charset
    from captcha_keras.runs import RunConfig
    from captcha_keras.training.config import TrainConfig
    from captcha_keras.training.inputs import resolve_inputs

    recorded = Charset("alnum").characters
    RunConfig("crnn_ctc_fast_wide", "ctc", recorded, 192, 64, 4, 4, 3).save(tmp_path / "m" / "old")
    config = TrainConfig(family="ctc", data=FIXTURE, run_name="old", output_dir=str(tmp_path / "m"), resume=True)
    resolve_inputs(config)
    assert config.charset == recorded and config.grayscale is False


@pytest.mark.parametrize(
    "flags",
    [
        {"init_from": "none"},
        {"init_from": None},
        {"height": 32},  # the base's recurrent layer reads columns 64 high
        {"arch": "crnn_ctc_fast"},
        {"normalize": "standardize"},
        {"family": "multihead"},
        {"data": None},  # synthetic runs train from scratch
    ],
)
def test_the_base_model_is_not_used_where_it_does_not_fit(flags):
    from captcha_keras.training.config import MIN_EPOCHS
    from captcha_keras.training.config import TrainConfig

    config = TrainConfig(**{"family": "ctc", "data": FIXTURE, **flags})
    assert config.init_from is None and config.min_epochs == MIN_EPOCHS


def test_a_resumed_run_keeps_the_start_it_was_made_with(tmp_path):
    import json

    from captcha_keras.runs import base_model
    from captcha_keras.training.config import TrainConfig
    from captcha_keras.training.inputs import resolve_inputs

    base = os.path.abspath(base_model())

    def resumed(recipe):
        run = tmp_path / "m" / "r"
        run.mkdir(parents=True, exist_ok=True)
        (run / "state.json").write_text(json.dumps({"recipe": recipe} if recipe is not None else {}))
        return TrainConfig(data=FIXTURE, resume=True, run_name="r", output_dir=str(tmp_path / "m")).init_from

    assert resumed({"init_from": base}) == base
    assert resumed({"init_from": "none"}) is None
    assert resumed({"schedule": "cosine"}) is None, "runs from before --init-from auto started from scratch"
    assert resumed(None) is None
    own = TrainConfig(data=FIXTURE, init_from=str(tmp_path / "m" / "r"), run_name="r", output_dir=str(tmp_path / "m"))
    with pytest.raises(ValueError, match="own folder"):
        resolve_inputs(own)


def test_bad_folder_flags_get_a_clear_error(tmp_path):
    result = run_script(
        "train_ctc.py",
        "--data",
        tmp_path,
        "--run-name",
        "x",
        "--output-dir",
        tmp_path / "m",
        "--logs-dir",
        tmp_path / "l",
        check=False,
    )
    assert result.returncode == 2
    assert "no usable labelled image" in result.stderr
    result = run_script(
        "train_ctc.py",
        "--val-split",
        "0.2",
        "--run-name",
        "y",
        "--output-dir",
        tmp_path / "m",
        "--logs-dir",
        tmp_path / "l",
        check=False,
    )
    assert result.returncode == 2 and "go with --data" in result.stderr


def test_strict_training_names_the_bad_file(tmp_path, capsys):
    from captcha_keras.training.config import TrainConfig
    from captcha_keras.training.inputs import resolve_inputs

    data = tmp_path / "data"
    data.mkdir()
    for name in sorted(os.listdir(FIXTURE))[:6]:
        (data / name).write_bytes((open(os.path.join(FIXTURE, name), "rb")).read())
    (data / "ABCD.png").write_bytes(b"not a png at all")
    common = [
        "--data",
        data,
        *TINY_FOLDER_TRAINING,
        "--steps",
        "1",
        "--fine-tune-epochs",
        "0",
        "--output-dir",
        tmp_path / "m",
        "--logs-dir",
        tmp_path / "l",
    ]
    result = run_script("train_ctc.py", *common, "--strict", "--run-name", "strict", check=False)
    assert result.returncode == 2
    assert "ABCD.png" in result.stderr and "not an image" in result.stderr
    # Without --strict the run reads the rest and says what it skipped (in this
    # process: what train_ctc.py settles before it trains).
    resolve_inputs(TrainConfig(data=str(data), width=64, height=32, run_name="lenient", output_dir=str(tmp_path / "m")))
    out = capsys.readouterr().out
    assert "ABCD.png" in out and "1 skipped" in out


def test_overwrite_deletes_nothing_when_the_inputs_are_wrong(folder_run, tmp_path):
    """--overwrite with a mistyped --data must fail before it removes the existing run."""
    result = run_script(
        "train_ctc.py",
        "--data",
        tmp_path / "no_such_folder",
        "--overwrite",
        "--run-name",
        folder_run.name,
        "--output-dir",
        folder_run.parent,
        "--logs-dir",
        tmp_path / "l",
        check=False,
    )
    assert result.returncode == 2 and "no_such_folder" in result.stderr
    assert (folder_run / "best.keras").is_file() and (folder_run / "metrics.json").is_file()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--synthetic-ratio", "0.99", "--batch-size", "16"], "--synthetic-ratio must leave room"),
        (["--val-split", "0.2", "--val-data", FIXTURE], "not both"),
    ],
)
def test_conflicting_folder_flags_fail_before_reading_anything(flags, message, tmp_path):
    result = run_script(
        "train_ctc.py",
        "--data",
        FIXTURE,
        *flags,
        "--run-name",
        "x",
        "--output-dir",
        tmp_path / "m",
        "--logs-dir",
        tmp_path / "l",
        check=False,
    )
    assert result.returncode == 2 and message in result.stderr
    assert not (tmp_path / "m" / "x").exists()
