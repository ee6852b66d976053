"""Character errors of a run on fresh captchas, split into 0/O and the rest.

A character is wrong when the reading differs from the label at its position,
or the reading has another length (then all of its characters count as wrong).

Usage: python char_errors.py RUN_DIR SAMPLES SEED
"""

import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), *[".."] * 4))

from captcha_keras.prediction import Predictor  # noqa: E402
from captcha_keras.reports import evaluate_synthetic  # noqa: E402

PAIR = "0O"

run_dir, samples, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
scores, _, texts, predictions = evaluate_synthetic(Predictor.load(run_dir), samples, seed)
counts = {True: [0, 0], False: [0, 0]}  # in the pair -> [characters, wrong]
for truth, reading in zip(texts, (prediction.text for prediction in predictions)):
    for i, character in enumerate(truth):
        tally = counts[character in PAIR]
        tally[0] += 1
        tally[1] += len(reading) != len(truth) or reading[i] != character
(pair_n, pair_wrong), (other_n, other_wrong) = counts[True], counts[False]
print(
    f"{run_dir} seq {scores['sequence_accuracy']} 0/O chars {pair_n}, wrong {pair_wrong}, "
    f"{pair_wrong / max(pair_n, 1):.2%}; other chars {other_n}, wrong {other_wrong}, "
    f"{other_wrong / max(other_n, 1):.3%}"
)
