"""Command-line flags and error handling shared by the commands."""

import argparse
import sys

from captcha_keras.charset import DEFAULT_CHARSET
from captcha_keras.charset import PRESETS


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each flag's default once: appended where the help does not
    already say it, and left out where it says nothing (None, and the
    on/off flags, whose help says what they turn on or off)."""

    def _get_help_string(self, action):
        text = action.help or ""
        quiet = action.default is None or isinstance(action.default, bool) or action.default == argparse.SUPPRESS
        if quiet or "default" in text or not action.option_strings:
            return text
        return f"{text} (default: %(default)s)" if text else "default: %(default)s"


def training_parser(family, description):
    """The flags of `train_ctc.py` / `train_cnn.py`; defaults follow the reference."""
    from captcha_keras.data.splits import DEFAULT_VAL_SPLIT
    from captcha_keras.data.styles import STYLE_CHOICES
    from captcha_keras.precision import PRECISIONS
    from captcha_keras.training.config import SCHEDULES
    from captcha_keras.training.config import SYNTHETIC_STEPS
    from captcha_keras.training.config import TrainConfig
    from captcha_keras.training.distribute import STRATEGIES

    d = TrainConfig
    p = argparse.ArgumentParser(description=description, formatter_class=HelpFormatter)
    p.add_argument("--arch", default="default", help="'default', 'reference', or a registry name")
    p.add_argument(
        "--charset",
        default=None,
        help=f"a preset ({', '.join(PRESETS)}) or literal characters; default: the --init-from run's, "
        f"else the labels' of --data, else {DEFAULT_CHARSET}",
    )
    p.add_argument(
        "--width",
        type=int,
        default=None,
        help="image width in pixels; default: 128, the "
        "--init-from run's, or for --data the images' aspect ratio at the chosen height",
    )
    p.add_argument(
        "--height",
        type=int,
        default=None,
        help="image height in pixels; default: 64, the "
        "--init-from run's, or for --data 64 (32 for images under 48 pixels high)",
    )
    p.add_argument(
        "--length", default=None, help="label length: 4, or a range such as 4-6; default: the lengths of --data, else 4"
    )
    p.add_argument(
        "--normalize",
        default=d.normalize,
        choices=("auto", "none", "standardize", "stretch"),
        help="per-image normalisation inside the model (so exports carry it): standardize (zero mean, "
        "unit deviation) or stretch (min-max); auto: an --init-from run's, else none",
    )
    colour = p.add_mutually_exclusive_group()
    colour.add_argument(
        "--grayscale",
        action="store_const",
        const=True,
        default=None,
        help="train on one channel (the default of the fast architectures)",
    )
    colour.add_argument(
        "--rgb",
        dest="grayscale",
        action="store_const",
        const=False,
        help="train on RGB (the default of the reference architectures)",
    )
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="training batch size")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help=f"batches per epoch; default: {SYNTHETIC_STEPS}, or one pass over --data of at least 100 "
        "batches (25 from a trained model, --init-from auto included)",
    )
    p.add_argument("--val-steps", type=int, default=d.val_steps, help="validation batches")
    p.add_argument("--epochs", type=int, default=d.epochs, help="phase-1 epoch limit")
    p.add_argument("--fine-tune-epochs", type=int, default=d.fine_tune_epochs, help="phase-2 epoch limit")
    p.add_argument(
        "--patience",
        type=int,
        default=d.patience,
        help="epochs without progress before a phase ends (converged: at 2,000 validation images; more for fewer)",
    )
    p.add_argument(
        "--stopping",
        default=d.stopping,
        choices=("auto", "loss", "converged"),
        help="loss: EarlyStopping on val_loss; converged: a smoothed sequence error, patience scaled "
        "with the validation set, stop once validation is perfect; auto: converged for --data "
        "runs, loss for synthetic ones",
    )
    p.add_argument(
        "--min-epochs",
        type=int,
        default=None,
        help="phase-1 epochs before a phase may end early; default: 5 from scratch, 1 from a trained model "
        "(--init-from auto included)",
    )
    p.add_argument("--lr", type=float, default=d.lr, help="phase-1 learning rate (phase 2 starts at x0.1)")
    p.add_argument(
        "--schedule",
        choices=SCHEDULES,
        default=d.schedule,
        help="cosine: anneal each phase (lr to lr/10, then lr/10 to lr/1000) over its epochs or "
        "its share of --max-minutes; constant: lr, then lr/10 (the reference)",
    )
    p.add_argument("--workers", type=int, default=d.workers, help="processes drawing captchas")
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=d.precision,
        help="auto: mixed_float16 on a GPU, mixed_bfloat16 on a CPU with AMX bfloat16 units, float32 "
        "on other CPUs; saved models are float32 either way",
    )
    p.add_argument(
        "--cache-size",
        type=int,
        default=d.cache_size,
        help="train from a pool of this many drawn captchas (0: draw every batch)",
    )
    p.add_argument("--refresh", type=float, default=d.refresh, help="fraction of the pool redrawn per epoch")
    p.add_argument(
        "--emphasize",
        default=d.emphasize,
        help="characters the synthetic training stream draws --emphasis times as often: auto = "
        "0 and O when the charset has both (the captcha package's font draws them alike), none, "
        "or literal characters; validation and test stay uniform",
    )
    p.add_argument("--emphasis", type=float, default=d.emphasis, help="how much more often --emphasize draws")
    p.add_argument(
        "--style",
        default=d.style,
        choices=STYLE_CHOICES,
        help="what synthetic captchas look like: captcha = the captcha package as it comes; fonts, "
        "clean, noisy, hollow, dotted, gif (animated: frames fused as a reader fuses them), arith "
        "(arithmetic questions) = one style of docs/styles.md; mix = each image in one of captcha to "
        "dotted (and arith when the charset spells 0-9+-=?)",
    )
    p.add_argument(
        "--max-minutes",
        type=float,
        default=d.max_minutes,
        help="wall-clock budget of the run (phase 1 gets 75%%); 0: no limit",
    )
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the training, validation and test streams")
    p.add_argument("--run-name", default=None, help=f"default: {family}_<date>-<time>")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run of this --run-name")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run of this --run-name")
    p.add_argument("--output-dir", default=d.output_dir, help="where run folders go")
    p.add_argument("--logs-dir", default=d.logs_dir, help="where CSV and TensorBoard logs go")
    p.add_argument("--eval-samples", type=int, default=d.eval_samples, help="fresh captchas for metrics.json")
    real = p.add_argument_group("real captchas (labelled folders)")
    real.add_argument("--data", help="folder of labelled captchas to train on (LABEL.png, LABEL_N.png or labels.csv)")
    real.add_argument("--val-data", help="validation folder (default: a seeded --val-split of --data)")
    real.add_argument(
        "--val-split",
        type=float,
        default=None,
        help=f"share of --data held out for validation, listed in heldout.txt "
        f"(default {DEFAULT_VAL_SPLIT} without --val-data)",
    )
    real.add_argument("--test-data", help="folder scored into metrics.json at the end (default: the validation images)")
    real.add_argument(
        "--synthetic-ratio",
        type=float,
        default=d.synthetic_ratio,
        help="share of each batch drawn as synthetic captchas",
    )
    real.add_argument(
        "--no-augment",
        dest="augment",
        action="store_false",
        help="turn off augmentation of folder images (shift, rotation, scale, blur, noise)",
    )
    real.add_argument("--keep-aspect", action="store_true", help="pad folder images to the input's aspect ratio")
    real.add_argument("--strict", action="store_true", help="stop on bad files instead of skipping them")
    real.add_argument(
        "--init-from",
        default=d.init_from,
        help="a trained run folder to start from (fine-tuning), or none (from scratch); auto: the "
        "shipped saved_models/base_alnum for a CTC run on --data that leaves --arch, --height and "
        "--normalize to it (with --rgb its first convolution is widened to colour), else none",
    )
    unlabelled = p.add_argument_group("unlabelled captchas (docs/real-captchas.md#unlabelled-captchas)")
    unlabelled.add_argument(
        "--unlabelled",
        help="a folder of unlabelled captchas like --data's: train in rounds, each on the labels and the "
        "readings of these images the round before trusted (pseudo-labels); never written into the folder",
    )
    unlabelled.add_argument("--rounds", type=int, default=d.rounds, help="pseudo-labelling rounds, at most")
    unlabelled.add_argument(
        "--pseudo-threshold",
        type=float,
        default=d.pseudo_threshold,
        help="calibrated confidence a reading needs to become a pseudo-label",
    )
    unlabelled.add_argument(
        "--no-pseudo-stable",
        dest="pseudo_stable",
        action="store_false",
        help="keep confident readings even when an augmented copy of the image reads otherwise",
    )
    scale = p.add_argument_group("several devices or machines (docs/training.md#distributed-training)")
    scale.add_argument(
        "--distribute",
        choices=STRATEGIES,
        default=d.distribute,
        help="auto: multiworker when TF_CONFIG lists several tasks, mirrored on several GPUs, "
        "else none; --batch-size is per replica",
    )
    scale.add_argument(
        "--cpu-replicas",
        type=int,
        default=None,
        help="with --distribute mirrored: mirror over N logical CPU devices (to try it without GPUs)",
    )
    p.add_argument("--verbose", type=int, default=d.verbose, choices=(0, 1, 2), help="Keras fit verbosity")
    return p


def add_serving_precision_flag(p):
    """`--precision` of the scripts that read captchas with a SavedModel."""
    from captcha_keras.precision import SERVING_PRECISIONS

    p.add_argument(
        "--precision",
        default="float32",
        choices=SERVING_PRECISIONS,
        help="bfloat16: run the float32 SavedModel in bfloat16 (fast on a CPU with AMX units; outputs move "
        "by bfloat16 rounding); auto: bfloat16 where the CPU has AMX units",
    )


def fail(message, code=2):
    """Prints an error for a person and exits, without a traceback."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(code)
