"""Measure training, inference and data throughput of the reference and default models.

    python benchmarks/benchmark.py --quick     # a few minutes: throughput only
    python benchmarks/benchmark.py             # more steps, plus time-to-accuracy of the shipped default runs

The time-to-accuracy curves come from the `training.csv` of run folders
trained with the default commands (`--runs`, by default the shipped
saved_models/ctc_default and saved_models/cnn_default, and the earlier
default runs they replaced, in benchmarks/results/previous): each epoch logs
the wall-clock minutes of its run, data drawing included.

Prints a table and writes benchmarks/results/<date>.json (<date>-quick.json
with --quick, so that a quick check never overwrites the day's full run).
"""

import argparse
import datetime
import json
import os

from captcha_keras.cli.flags import HelpFormatter

# Logs of the default runs the shipped ones replaced.
PREVIOUS = os.path.join("benchmarks", "results", "previous")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    p.add_argument("--batch-size", type=int, default=128, help="training batch size")
    p.add_argument("--out-dir", default=os.path.join("benchmarks", "results"), help="where the JSON and plot go")
    earlier = sorted(os.path.join(PREVIOUS, name) for name in os.listdir(PREVIOUS)) if os.path.isdir(PREVIOUS) else []
    p.add_argument(
        "--runs",
        nargs="*",
        default=[os.path.join("saved_models", "ctc_default"), os.path.join("saved_models", "cnn_default")]
        + [run for run in earlier if os.path.isdir(run)],
        help="run folders whose time-to-accuracy to report (without --quick)",
    )
    return p.parse_args(argv)


def main(args):
    from throughput import format_table
    from throughput import format_time_to_accuracy
    from throughput import run
    from throughput import time_to_accuracy

    from captcha_keras.plots import plot_time_to_accuracy

    results = run(quick=args.quick, batch_size=args.batch_size)
    results["date"] = datetime.datetime.now().isoformat(timespec="seconds")
    print(format_table(results))
    os.makedirs(args.out_dir, exist_ok=True)
    if not args.quick:
        runs = [r for r in args.runs if os.path.isfile(os.path.join(r, "training.csv"))]
        for missing in sorted(set(args.runs) - set(runs)):
            print(f"no training.csv in {missing}: left out of the time-to-accuracy curves")
        if runs:
            curves = time_to_accuracy(runs)
            results["time_to_accuracy"] = curves
            print(format_time_to_accuracy(curves))
            png = os.path.join(args.out_dir, "time-to-accuracy.png")
            # Bold: the runs asked about; thin: the replaced defaults in previous/.
            current = {
                os.path.basename(os.path.normpath(r))
                for r in runs
                if os.path.dirname(os.path.abspath(r)) != os.path.abspath(PREVIOUS)
            }
            plot_time_to_accuracy(
                {k: (c["minutes"], c["val_seq_acc"]) for k, c in curves.items()}, png, highlight=current
            )
            print(f"wrote {png}")
    suffix = "-quick" if args.quick else ""
    path = os.path.join(args.out_dir, f"{datetime.date.today().isoformat()}{suffix}.json")
    with open(path, "w") as f:
        json.dump(results, f, indent=2)
    print(f"wrote {path}")


if __name__ == "__main__":
    main(parse_args())
