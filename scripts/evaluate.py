"""Score a trained run on fresh, seeded captchas drawn with its own settings.

    python scripts/evaluate.py --model saved_models/ctc_default --samples 10000 --seed 123 --json out.json
"""

import argparse
import json
import sys

import _path  # noqa: F401


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, help="a run folder (with config.json and savedmodel/)")
    p.add_argument("--samples", type=int, default=2000, help="fresh captchas to score")
    p.add_argument("--seed", type=int, default=12345, help="seed of the test stream")
    p.add_argument("--workers", type=int, default=2, help="processes drawing captchas")
    p.add_argument("--decoder", default="greedy", choices=("greedy", "beam_search"), help="CTC decoding")
    p.add_argument("--json", help="also write the scores to this file")
    p.add_argument("--errors-png", help="also draw a grid of the wrong predictions here")
    return p.parse_args(argv)


def main(args):
    from captcha_keras.cli import fail
    from captcha_keras.evaluation import confusions
    from captcha_keras.prediction import Predictor
    from captcha_keras.reports import evaluate_synthetic
    from captcha_keras.reports import write_prediction_grid

    if args.samples < 1:
        fail(f"--samples must be at least 1. Received: {args.samples}")
    try:
        predictor = Predictor.load(args.model, strategy=args.decoder)
    except (FileNotFoundError, ValueError, OSError) as error:
        fail(error)
    scores, images, texts, predictions = evaluate_synthetic(predictor, args.samples, args.seed, args.workers)
    predicted = [p.text for p in predictions]
    scores.update(model=args.model, seed=args.seed, decoder=args.decoder)
    scores["confusions"] = [[t, p, n] for (t, p), n in confusions(texts, predicted)]
    print(f"model: {args.model}")
    print(f"samples: {scores['samples']} (seed {args.seed})")
    print(f"sequence accuracy: {scores['sequence_accuracy']:.4%}")
    print(f"character error rate: {scores['cer']:.4%}")
    if scores["confusions"]:
        print("most confused (true -> predicted, count): " + ", ".join(f"{t}->{p} {n}" for t, p, n in scores["confusions"]))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(scores, f, indent=2)
    if args.errors_png:
        write_prediction_grid(args.errors_png, images, texts, predictions, title="wrong predictions first")
    return 0


if __name__ == "__main__":
    sys.exit(main(parse_args()))
