"""The 0/O probe again with a conv stack that keeps full resolution longer.

Is the default's strided stem why 0 and O stay confused? This registers the
CTC default with an unstrided stem: its first convolution runs at 128x64
and a 2x2 max-pool halves it, where the default's convolution strides by 2.
Everything after is the default's (16 columns for the GRU). Trained exactly
as `probe_0O_25`:

    python benchmarks/results/experiments/probe_0O_s1/run.py \
        --charset 0O --run-name probe_0O_s1 --max-minutes 25 --eval-samples 4000
"""

import os
import sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "..", ".."))
sys.path.insert(0, ROOT)

from captcha_keras.cli.train import run_training  # noqa: E402
from captcha_keras.cli.flags import training_parser  # noqa: E402
from captcha_keras.models import ARCHITECTURES  # noqa: E402

NAME = "crnn_ctc_fast_wide_s1"
ARCHITECTURES[NAME] = dict(
    ARCHITECTURES["crnn_ctc_fast_wide"],
    kwargs=dict(
        ARCHITECTURES["crnn_ctc_fast_wide"]["kwargs"],
        stem_stride=1,
        pools=((2, 2), (2, 2), (2, 2), (2, 1), (2, 1)),
    ),
)

if __name__ == "__main__":
    args = training_parser("ctc", __doc__.splitlines()[0]).parse_args()
    args.arch = NAME
    run_training(args, "ctc")
