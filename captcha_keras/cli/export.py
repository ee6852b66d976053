"""Write a run's SavedModel anew from its best.keras (batch norms folded in).

    python scripts/export.py saved_models/my_ctc [more runs...]

Runs exported before batch norms were folded serve faster after this; the
outputs are the same up to float32 rounding.
"""

import argparse

from captcha_keras.cli.flags import HelpFormatter


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("runs", nargs="+", help="run folders (with best.keras)")
    return p.parse_args(argv)


def main(argv=None):
    from captcha_keras.cli.flags import fail
    from captcha_keras.export import reexport_run

    args = parse_args(argv)
    for run_dir in args.runs:
        try:
            print(f"wrote {reexport_run(run_dir)}")
        except (FileNotFoundError, ValueError, OSError) as error:
            fail(error)
