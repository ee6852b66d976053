"""The shipped models a wheel carries: copied from `saved_models/` into `captcha_keras/packaged_models/`.

A reader needs a run's `config.json` and one portable model, `model.onnx`
(read with onnxruntime, no TensorFlow); `base_alnum` also carries its
trainable `best.keras`, which a CTC folder run fine-tunes by default. The
copies are the very bytes of `saved_models/` (git stores them once), listed
with their SHA-256 in `manifest.json`, by which `runs.check_packaged` finds
a partial or corrupt install.
"""

import json
import os
import shutil

from captcha_keras.runs import BEST_MODEL_FILE
from captcha_keras.runs import CONFIG_FILE
from captcha_keras.runs import FORMATS
from captcha_keras.runs import METRICS_FILE
from captcha_keras.runs import PACKAGED_DIR
from captcha_keras.runs import PACKAGED_MANIFEST
from captcha_keras.runs import SHIPPED_DIR
from captcha_keras.runs import file_sha256

READING_FILES = (CONFIG_FILE, METRICS_FILE, FORMATS["onnx"])
# Each packaged model and its files.
PACKAGED_MODELS = {
    "ctc_default": READING_FILES,
    "base_alnum": READING_FILES + (BEST_MODEL_FILE,),
    "really_simple_captcha": READING_FILES,
    "arithmetic": READING_FILES,
}


def package_models(models=None, source=SHIPPED_DIR, target=PACKAGED_DIR):
    """Copies the packaged models' files from `source` into `target` and writes the manifest.

    Args:
        models: dict or None. `{name: files}`; defaults to `PACKAGED_MODELS`.
        source: str. The clone's `saved_models/`.
        target: str. The package's `packaged_models/`.

    Returns:
        The manifest written: `{name: {file: sha256}}`.

    Raises:
        FileNotFoundError: a file is missing from `source` (with the export
            command that writes a missing `model.onnx`).
    """
    models = PACKAGED_MODELS if models is None else models
    manifest = {}
    for name, files in models.items():
        for file in files:
            path = os.path.join(source, name, file)
            if not os.path.isfile(path):
                hint = f" (python scripts/export.py --model {os.path.join(source, name)} --format onnx)"
                raise FileNotFoundError(f"{path} is missing{hint if file == FORMATS['onnx'] else ''}.")
    if os.path.isdir(target):
        shutil.rmtree(target)
    for name, files in models.items():
        os.makedirs(os.path.join(target, name))
        manifest[name] = {}
        for file in files:
            copy = os.path.join(target, name, file)
            shutil.copyfile(os.path.join(source, name, file), copy)
            manifest[name][file] = file_sha256(copy)
    with open(os.path.join(target, PACKAGED_MANIFEST), "w") as f:
        json.dump(manifest, f, indent=2, sort_keys=True)
        f.write("\n")
    return manifest
