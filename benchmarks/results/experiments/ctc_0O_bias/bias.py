"""Does shifting the decision between 0 and O help a trained CTC model?

The shipped models' errors are mostly 0 <-> O. If one direction dominates, a
constant added to O's log-probability (tuned on fresh captchas of one seed)
would trade some errors of one kind for fewer of the other. This scores every
shift on a tuning seed and the best one on other seeds, with the package's
own greedy decoding.

Usage: python bias.py RUN_DIR [TUNE_SEED TUNE_SAMPLES] (defaults 11 and 10000)
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), *[".."] * 4))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from captcha_keras.decoding import decode_ctc  # noqa: E402
from captcha_keras.prediction import SAVEDMODEL_DIR  # noqa: E402
from captcha_keras.reports import draw_test_set  # noqa: E402
from captcha_keras.run_config import RunConfig  # noqa: E402

run_dir = sys.argv[1]
tune_seed, tune_samples = (int(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 3 else (11, 10000)
config = RunConfig.load(run_dir)
charset = config.make_charset()
loaded = tf.saved_model.load(os.path.join(run_dir, SAVEDMODEL_DIR))
serve = loaded.serve  # `loaded` keeps the variables alive.
O = charset.characters.index("O")


def read(seed, samples):
    images, texts = draw_test_set(config, samples, seed)
    probs = np.concatenate([np.asarray(serve(images[i : i + 500].astype("float32"))) for i in range(0, samples, 500)])
    return np.log(np.maximum(probs, 1e-30)), texts


def score(log_probs, texts, shift):
    shifted = log_probs.copy()
    shifted[:, :, O] += shift
    readings = [t for t, _ in decode_ctc(np.exp(shifted), charset, lengths=(4, 4))]
    wrong = [(t, r) for t, r in zip(texts, readings) if t != r]
    zero_as_o = sum(1 for t, r in wrong if len(t) == len(r) for a, b in zip(t, r) if (a, b) == ("0", "O"))
    o_as_zero = sum(1 for t, r in wrong if len(t) == len(r) for a, b in zip(t, r) if (a, b) == ("O", "0"))
    return 1 - len(wrong) / len(texts), zero_as_o, o_as_zero


tune = read(tune_seed, tune_samples)
shifts = np.round(np.arange(-1.5, 1.51, 0.25), 2)
results = {s: score(*tune, s) for s in shifts}
for s, (acc, zo, oz) in results.items():
    print(f"tune seed {tune_seed}: shift {s:+.2f}  seq acc {acc:.4%}  0->O {zo}  O->0 {oz}")
best = max(shifts, key=lambda s: (results[s][0], -abs(s)))
print(f"best shift on the tuning seed: {best:+.2f}")
for seed, samples in ((0, 10000), (7, 3000)):
    held = read(seed, samples)
    for s in sorted({0.0, best}):
        acc, zo, oz = score(*held, s)
        print(f"seed {seed} ({samples}): shift {s:+.2f}  seq acc {acc:.4%}  0->O {zo}  O->0 {oz}")
