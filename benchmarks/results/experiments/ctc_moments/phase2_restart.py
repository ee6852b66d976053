"""A/B: continue a mid-run checkpoint at phase 2's rate with a fresh Adam or with
its saved moments, scoring the validation loss every 50 steps.

Usage: python phase2_restart.py CHECKPOINT.keras (one saved during a run, with
its optimizer state: a finished run's best.keras no longer has it).
"""

import json
import os
import sys

import keras

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), *[".."] * 4))

from captcha_keras.charset import DEFAULT_CHARSET  # noqa: E402
from captcha_keras.charset import Charset  # noqa: E402
from captcha_keras.data.targets import make_targets  # noqa: E402
from captcha_keras.precision import set_precision  # noqa: E402
from captcha_keras.training import TrainConfig  # noqa: E402
from captcha_keras.training import compile_model  # noqa: E402
from captcha_keras.training import load_with_optimizer_state  # noqa: E402
from captcha_keras.training import make_data  # noqa: E402

CKPT = sys.argv[1]
# The default recipe, on a fixed 16,384-captcha pool of 50-step epochs.
config = TrainConfig(
    family="ctc", charset=DEFAULT_CHARSET, length="4", emphasize="0O",
    cache_size=16384, refresh=0.0, steps=50, run_name="ab", verbose=0,
)
charset = Charset(config.charset)
set_precision("mixed_bfloat16")
train, images, texts = make_data(config, charset)
targets = make_targets(texts, charset, "ctc", config.max_length)
results = {}
for mode in ("fresh", "moments"):
    model = keras.models.load_model(CKPT, compile=False)
    compile_model(model, "ctc", charset, 1e-4)
    if mode == "moments":
        load_with_optimizer_state(model, CKPT, 1e-4)
    curve = [(0, float(model.evaluate(images, targets, batch_size=256, verbose=0)))]
    for k in range(8):
        model.fit(train, epochs=1, verbose=0)
        curve.append(((k + 1) * 50, float(model.evaluate(images, targets, batch_size=256, verbose=0))))
        print(mode, curve[-1], flush=True)
    results[mode] = curve
print(json.dumps(results))
json.dump(results, open("phase2_restart.json", "w"))
