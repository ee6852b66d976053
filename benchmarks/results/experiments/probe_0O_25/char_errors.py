"""Character errors of a run on fresh captchas, split into 0/O and the rest.

Usage: python char_errors.py RUN_DIR SAMPLES SEED
"""
import sys
sys.path.insert(0, __import__("os").path.join(__import__("os").path.dirname(__import__("os").path.abspath(__file__)), *[".."] * 4))
from captcha_keras.prediction import Predictor
from captcha_keras.reports import evaluate_synthetic
model, samples, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
p = Predictor.load(model)
scores, _, texts, preds = evaluate_synthetic(p, samples, seed)
n = err = 0
other_n = other_err = 0
for t, q in zip(texts, [p.text for p in preds]):
    for i, c in enumerate(t):
        wrong = len(q) != len(t) or q[i] != c
        if c in "0O":
            n += 1; err += wrong
        else:
            other_n += 1; other_err += wrong
print(model, "seq", scores["sequence_accuracy"], f"0/O chars {n}, wrong {err}, {err/max(n,1):.2%}; other chars {other_n}, wrong {other_err}, {other_err/max(other_n,1):.3%}")
