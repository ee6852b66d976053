"""Measure training, inference and data throughput of the reference and default models.

    python scripts/benchmark.py --quick     # a few minutes: throughput only

Prints a table and writes benchmarks/results/<date>.json.
"""

import argparse
import datetime
import json
import os

import _path  # noqa: F401


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--out-dir", default=os.path.join("benchmarks", "results"))
    return p.parse_args(argv)


def main(args):
    from captcha_keras.benchmark import format_table
    from captcha_keras.benchmark import run

    results = run(quick=args.quick, batch_size=args.batch_size)
    results["date"] = datetime.datetime.now().isoformat(timespec="seconds")
    print(format_table(results))
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, f"{datetime.date.today().isoformat()}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(parse_args())
