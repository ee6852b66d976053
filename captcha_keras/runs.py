"""What a run folder is: the names of its files, its `config.json`, and how to find one.

Every file a run folder holds is named here and nowhere else (as keras-hub
keeps a preset's file names in one module), so that training, reading,
exporting and serving agree on them:

    saved_models/<run>/
        config.json          RunConfig: architecture, charset, input size, calibration
        best.keras           the trainable model (float32)
        savedmodel/          the served model: reads image bytes or pixels
        model.onnx, model.tflite, model_dynamic.tflite, model_int8.tflite
        state.json           progress, for --resume
        metrics.json         scores on the test images, written at the end
        heldout.txt          the validation files of a --val-split
        test_files.txt       the test files of a shipped folder run
        training.csv, history.png, model.png, predictions.png
        calibration.png      reliability diagram and precision-coverage on the test images
        pseudo_labels.csv    the readings of --unlabelled images each round trained on
        rounds/round<N>/     each round of an --unlabelled run, a run folder of its own; beside them
                             round<N>_pseudo_labels.csv (what it trained on) and progress.json
        evaluations/         what evaluate.py measured on this run, one JSON and PNG per data set
        backup/              Keras' mid-epoch backups, removed at the end

`find_run` turns what a user passes (a run folder, an export file of one,
or the name of a shipped model) into a run folder.
"""

import dataclasses
import hashlib
import importlib.resources
import json
import os

from captcha_keras.charset import Charset

CONFIG_FILE = "config.json"
BEST_MODEL_FILE = "best.keras"
SAVEDMODEL_DIR = "savedmodel"
STATE_FILE = "state.json"
METRICS_FILE = "metrics.json"
HELDOUT_FILE = "heldout.txt"
TEST_FILES_FILE = "test_files.txt"
HISTORY_CSV = "training.csv"
HISTORY_PNG = "history.png"
ARCHITECTURE_PNG = "model.png"
PREDICTIONS_PNG = "predictions.png"
CALIBRATION_PNG = "calibration.png"
PSEUDO_LABELS_FILE = "pseudo_labels.csv"
ROUNDS_DIR = "rounds"
PROGRESS_FILE = "progress.json"
EVALUATIONS_DIR = "evaluations"
BACKUP_DIR = "backup"
# Where each format a run can be read in lives in its folder.
FORMATS = {
    "savedmodel": SAVEDMODEL_DIR,
    "onnx": "model.onnx",
    "litert": "model.tflite",
    "litert-dynamic": "model_dynamic.tflite",
    "litert-int8": "model_int8.tflite",
}
# Where training writes runs by default (`--output-dir`), relative to the
# folder it runs in: a run found there by name wins over a shipped one.
RUNS_DIR = "saved_models"
# The models that ship with the project, beside the package in a clone, where
# a user's runs land too: a run there wins over the packaged copy of its name.
SHIPPED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saved_models")
# The shipped models inside the package (what a wheel carries), and the list
# of their files with each one's SHA-256, by which a partial or corrupt install is found.
try:
    PACKAGED_DIR = os.fspath(importlib.resources.files("captcha_keras") / "packaged_models")
except TypeError:  # a package imported from a zip has no folder on disk; it carries no models then
    PACKAGED_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "packaged_models")
PACKAGED_MANIFEST = "manifest.json"
# The models the project ships in the clone's saved_models/ (beside them, a user's runs).
SHIPPED_MODELS = ("ctc_default", "cnn_default", "really_simple_captcha", "base_alnum")
# The shipped model a `Reader` reads with when given none.
DEFAULT_MODEL = "ctc_default"
# The shipped model a CTC folder run starts from by default (`base_model()`).
BASE_MODEL_NAME = "base_alnum"


def check_format(format):
    """Raises `ValueError` unless `format` is a key of `FORMATS`."""
    if format not in FORMATS:
        raise ValueError(f"Unknown model format. Expected one of {sorted(FORMATS)}. Received: format={format!r}")


def export_path(run_dir, format):
    """The path of `format` in `run_dir`."""
    check_format(format)
    return os.path.join(run_dir, FORMATS[format])


def split_model_path(path):
    """`(run_dir, format)` of an export file's path, or None if `path` is not one.

    >>> split_model_path("saved_models/ctc_default/model_int8.tflite")
    ('saved_models/ctc_default', 'litert-int8')
    """
    path = os.fspath(path).rstrip("/" + os.sep)
    name = os.path.basename(path)
    for format, file in FORMATS.items():
        if name == file and format != "savedmodel" and os.path.isfile(path):
            return os.path.dirname(path) or ".", format
    return None


def available_formats(run_dir):
    """The formats a run folder holds, in `FORMATS` order."""
    return [f for f in FORMATS if os.path.exists(export_path(run_dir, f))]


def is_run(path):
    """Whether a folder is a trained run that can be read (config.json and a model in any format)."""
    return os.path.isfile(os.path.join(path, CONFIG_FILE)) and bool(available_formats(path))


class PackagedModelError(FileNotFoundError):
    """A packaged model is missing a file or has a corrupt one: the install is broken."""


def packaged_manifest():
    """`{name: {file: sha256}}` of the models the package carries; empty if it carries none.

    Raises:
        PackagedModelError: the package holds models but its manifest is
            missing or unreadable.
    """
    path = os.path.join(PACKAGED_DIR, PACKAGED_MANIFEST)
    try:
        with open(path) as f:
            manifest = json.load(f)
        if isinstance(manifest, dict):
            return manifest
        problem = "is not a manifest"
    except FileNotFoundError:
        if not os.path.isdir(PACKAGED_DIR) or not os.listdir(PACKAGED_DIR):
            return {}
        problem = "is missing"
    except (OSError, ValueError):
        problem = "is unreadable"
    raise PackagedModelError(
        f"The packaged models are broken: {path} {problem}. Reinstall the package: "
        "pip install --force-reinstall --no-deps captcha-keras"
    )


def file_sha256(path):
    """The SHA-256 of a file, hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_packaged(name, manifest=None):
    """The folder of packaged model `name`, after checking every file the manifest lists.

    Raises:
        PackagedModelError: a file is missing or differs from the one built
            into the package, naming it and the reinstall that fixes it.
    """
    files = (manifest or packaged_manifest())[name]
    folder = os.path.join(PACKAGED_DIR, name)
    for file, sha256 in sorted(files.items()):
        path = os.path.join(folder, file)
        problem = "is missing" if not os.path.isfile(path) else None
        if problem is None and file_sha256(path) != sha256:
            problem = "is corrupt (its SHA-256 differs from the one built into the package)"
        if problem:
            raise PackagedModelError(
                f"The packaged model {name!r} is broken: {path} {problem}. Reinstall the package: "
                "pip install --force-reinstall --no-deps captcha-keras"
            )
    return folder


def _runs_in(folder):
    return [n for n in os.listdir(folder) if is_run(os.path.join(folder, n))] if os.path.isdir(folder) else []


def shipped_path(name):
    """Where the run or shipped model `name` is read from: `./saved_models/<name>` (your runs), the
    clone's `saved_models/<name>`, else the package's copy (checked); None if none has it."""
    for folder in (RUNS_DIR, SHIPPED_DIR):
        if is_run(os.path.join(folder, name)):
            return os.path.join(folder, name)
    manifest = packaged_manifest()
    return check_packaged(name, manifest) if name in manifest else None


def is_shipped(path):
    """Whether a run folder is one the project ships (the clone's or the package's copy): no command writes there."""
    run = os.path.realpath(path)
    if run.startswith(os.path.realpath(PACKAGED_DIR) + os.sep):
        return True
    return any(run == os.path.realpath(os.path.join(SHIPPED_DIR, name)) for name in SHIPPED_MODELS)


def shipped_runs():
    """The names a model can be given by: your runs in `./saved_models/`, the clone's and the package's, sorted."""
    return sorted(set(_runs_in(RUNS_DIR)) | set(_runs_in(SHIPPED_DIR)) | set(packaged_manifest()))


def base_model():
    """What a CTC folder run starts from by default (`--init-from auto`): the shipped `base_alnum`
    (the clone's, else the package's), or None where neither is here."""
    clone = os.path.join(SHIPPED_DIR, BASE_MODEL_NAME)
    if os.path.isfile(os.path.join(clone, BEST_MODEL_FILE)):
        return clone  # before the package's copy, whose check hashes its files
    manifest = packaged_manifest()
    packaged = check_packaged(BASE_MODEL_NAME, manifest) if BASE_MODEL_NAME in manifest else None
    return packaged if packaged and os.path.isfile(os.path.join(packaged, BEST_MODEL_FILE)) else None


def find_run(model):
    """The folder of `model`: a run folder's path, an export file of one, or the name of a shipped model.

    A name finds `./saved_models/<name>` (where training writes your runs)
    first, then the clone's `saved_models/<name>`, then the copy inside the
    package.

    Returns:
        A run folder, or an export file's path (which `split_model_path` splits).

    Raises:
        FileNotFoundError: none of these, with the shipped names listed;
            `PackagedModelError` if the packaged copy is broken.
    """
    model = os.fspath(model)
    if is_run(model) or split_model_path(model):
        return model
    name = model.rstrip("/" + os.sep)  # a name completed by the shell keeps its slash
    bare = name not in ("", ".", "..") and not any(sep and sep in name for sep in ("/", os.sep, os.altsep))
    shipped = shipped_path(name) if bare else None
    if shipped:
        return shipped
    if os.path.isdir(model):
        if not os.path.isfile(os.path.join(model, CONFIG_FILE)):
            raise FileNotFoundError(
                f"{model!r} is not a trained run: it has no {CONFIG_FILE}. Pass a folder written by "
                "scripts/train_ctc.py or scripts/train_cnn.py, or a shipped model's name "
                f"({', '.join(shipped_runs()) or 'none found'})."
            )
        raise FileNotFoundError(
            f"{model!r} has {CONFIG_FILE} but no model to read: no {SAVEDMODEL_DIR}/ and no export "
            f"({', '.join(f for f in FORMATS.values() if f != SAVEDMODEL_DIR)})."
        )
    raise FileNotFoundError(
        f"{model!r} is neither a trained run folder (with {CONFIG_FILE} and {SAVEDMODEL_DIR}/ or an export), an "
        f"export file of one, nor a shipped model. Shipped models: {', '.join(shipped_runs()) or 'none found'}."
    )


def read_metrics(run_dir):
    """The run's `metrics.json` as a dict, or None when it has none."""
    path = os.path.join(run_dir, METRICS_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


@dataclasses.dataclass
class RunConfig:
    """Everything needed to feed a trained model and read its outputs.

    Args:
        arch: str. Registry name of the architecture.
        family: str. `"ctc"` or `"multihead"`.
        charset: str. The literal characters, in output order.
        width: int. Input width in pixels.
        height: int. Input height in pixels.
        min_length: int. Shortest label the model was trained on.
        max_length: int. Longest label (multi-head: the number of heads).
        channels: int. 1 (grayscale) or 3 (RGB).
        keep_aspect: bool. Pad images to the input's aspect ratio before
            resizing them (folder data); False stretches them.
        style: str. The synthetic style it trained on (`styles.STYLE_CHOICES`):
            what its synthetic test captchas are drawn in.
        temperature: float. Divides the outputs' log-probabilities before
            they are read, so that confidences are calibrated
            (`inference.calibration`); fitted at the end of training, 1.0
            for runs from before.
        task: str. `"text"`, or `"arithmetic"` when every label is an
            arithmetic question (`captcha_keras.arithmetic`): its readings
            then carry the answer.
        fusion: str. How its readers fuse an animation's frames
            (`images.fuse_frames`): what it trained with.
    """

    arch: str
    family: str
    charset: str
    width: int = 128
    height: int = 64
    min_length: int = 4
    max_length: int = 4
    channels: int = 3
    keep_aspect: bool = False
    style: str = "captcha"
    temperature: float = 1.0
    task: str = "text"
    fusion: str = "mean"

    @property
    def grayscale(self):
        return self.channels == 1

    @property
    def length(self):
        """The label length as `generate.py`/`--length` spell it: `4` or `4-6`."""
        if self.min_length == self.max_length:
            return str(self.min_length)
        return f"{self.min_length}-{self.max_length}"

    def make_charset(self):
        return Charset(self.charset)

    def to_dict(self):
        return dataclasses.asdict(self)

    def save(self, run_dir):
        """Writes `config.json` into `run_dir`."""
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, CONFIG_FILE), "w") as f:
            json.dump(self.to_dict(), f, indent=2)

    @classmethod
    def load(cls, run_dir):
        """Reads `config.json` from a run folder, with a clear error if it is missing."""
        path = os.path.join(run_dir, CONFIG_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{run_dir!r} is not a trained run: it has no {CONFIG_FILE}. "
                "Pass a folder written by scripts/train_ctc.py or scripts/train_cnn.py."
            )
        with open(path) as f:
            values = json.load(f)
        fields = {f.name for f in dataclasses.fields(cls)}
        if "task" not in values and values.get("style") == "arith":  # a run from before tasks were recorded
            values["task"] = "arithmetic"
        return cls(**{k: v for k, v in values.items() if k in fields})
