"""The settings of one training run (`TrainConfig`) and the recipe's constants."""

import dataclasses
import datetime
import json
import os

from captcha_keras.charset import Charset
from captcha_keras.charset import parse_length
from captcha_keras.data.styles import STYLE_CHOICES
from captcha_keras.images import FUSION
from captcha_keras.precision import PRECISIONS
from captcha_keras.runs import BASE_MODEL_NAME
from captcha_keras.runs import ROUNDS_DIR
from captcha_keras.runs import RUNS_DIR
from captcha_keras.runs import STATE_FILE
from captcha_keras.runs import RunConfig
from captcha_keras.runs import base_model
from captcha_keras.training.distribute import STRATEGIES
from captcha_keras.training.geometry import SYNTHETIC_SIZE

FINE_TUNE_FACTOR = 0.1
# Where the cosine schedule ends phase 2, relative to where phase 2 starts.
FINAL_FACTOR = 0.01
SCHEDULES = ("cosine", "constant")
# Share of `max_minutes` phase 1 may use; the rest is phase 2's.
PHASE1_SHARE = 0.75
# Batches per epoch on synthetic data: epochs short enough for EarlyStopping
# and checkpoints to act every couple of minutes on a CPU.
SYNTHETIC_STEPS = 400
# Epochs of phase 1 before a phase may end early, and the fewest batches of a
# folder epoch. From scratch a CTC model spends its first epochs emitting
# blanks, so both are long; from a trained model there is no blank phase, and
# short epochs let the stopping rule see convergence sooner (amazon-captcha
# 80/20 stopped itself after 1.7 minutes instead of 9.1, at the same 99.88%).
MIN_EPOCHS = 5
MIN_EPOCHS_FROM_TRAINED = 1
FOLDER_MIN_STEPS = 100
FOLDER_MIN_STEPS_FROM_TRAINED = 25


def recorded_start(state_path):
    """The `init_from` a run's `state.json` recorded (an absolute path or `"none"`), or None."""
    if not os.path.isfile(state_path):
        return None
    with open(state_path) as f:
        return json.load(f).get("recipe", {}).get("init_from")


@dataclasses.dataclass
class TrainConfig:
    """Settings of one training run; the scripts' flags carry the same names.

    Args:
        family: str. `"ctc"` or `"multihead"`.
        arch: str. Registry name, or `"default"` / `"reference"`.
        charset: str or None. Preset name or literal characters; None takes
            the `--init-from` run's, else the labels' of `data`, else
            `DEFAULT_CHARSET`.
        width, height: int or None. Image size; None: the `--init-from`
            run's, else chosen from the images of `data` (`geometry.py`),
            else 128x64.
        length: str or None. Label length, `"4"` or a range `"4-6"`; None
            takes the lengths found in `data`, else 4.
        grayscale: bool. One input channel; `None` takes the architecture's
            default (grayscale for the fast defaults, RGB for the reference).
        batch_size, steps, val_steps: int. Batch size, batches per epoch
            (None: `SYNTHETIC_STEPS`, or one pass over `data`), validation
            batches (drawn once, fixed for the whole run).
        epochs, fine_tune_epochs: int. Epoch limits of phases 1 and 2.
        patience: int. EarlyStopping patience (epochs).
        min_epochs: int or None. Epochs of phase 1 before a phase may end
            early: a CTC model from scratch spends its first epochs emitting
            blanks, with a validation loss that rises before it falls. None:
            `MIN_EPOCHS`, or `MIN_EPOCHS_FROM_TRAINED` with `init_from`.
        lr: float. Phase-1 learning rate; phase 2 starts at a tenth of it.
        schedule: str. `"cosine"` anneals each phase along a cosine (phase 1
            from `lr` to `lr / 10`, phase 2 from `lr / 10` to `lr / 1000`) over
            its epochs or its share of `max_minutes`, whichever ends it first;
            `"constant"` keeps `lr` and `lr / 10`, as the reference does.
        workers: int. Processes drawing captchas.
        cache_size: int. Train from a pool of this many drawn captchas,
            partly redrawn each epoch (`CachedCaptchas`); 0 draws every
            training batch afresh, as the reference does.
        refresh: float. Fraction of the pool redrawn per epoch.
        emphasize: str. Characters the synthetic training stream draws
            `emphasis` times as often (validation and test stay uniform):
            `"auto"` picks the pairs the package's font draws alike (0 and O)
            when the charset has them, `"none"` (or `""`) nothing.
        emphasis: float. How much more often. Defaults to 3.0.
        max_minutes: float. Wall-clock budget of the whole run, data drawing
            included; phase 1 ends by `PHASE1_SHARE` of it so that phase 2
            has time. 0 for no limit.
        seed: int. Seed of the training, validation and test streams.
        run_name: str. Folder name under `output_dir` and `logs_dir`.
        resume: bool. Continue an interrupted run of the same name.
        eval_samples: int. Fresh test captchas scored into `metrics.json`
            (synthetic runs; folder runs score their held-out images).
        data: str or None. Folder of labelled real captchas to train on.
        val_data: str or None. Validation folder.
        val_split: float or None. Share of `data` held out for validation.
        test_data: str or None. Folder scored into `metrics.json` at the end.
        synthetic_ratio: float. Share of each batch drawn synthetic when
            training on `data`.
        augment: bool. Augment folder images (small shifts, rotation, scale,
            blur, noise).
        keep_aspect: bool. Pad folder images to the input's aspect ratio
            instead of stretching them.
        strict: bool. Bad files in a folder are an error instead of skipped.
        init_from: str or None. Run folder whose weights start this run;
            `"auto"`: `runs.base_model()` for a CTC run on `data` that leaves the
            architecture, height, channels and normalisation to it (its
            own), else none; `"none"` or None: from scratch.
        precision: str. `"auto"` (mixed float16 on a GPU, mixed bfloat16 on a CPU
            with AMX bfloat16 units, float32 on other CPUs)
            or a Keras dtype policy name. The saved models are float32
            whatever trained them.
        stopping: str. How a phase ends early: `"loss"` (EarlyStopping on
            the validation loss, `patience` epochs), `"converged"`
            (`callbacks.ConvergenceStop`: a smoothed sequence error, patience
            scaled with the validation set, perfect validation), or
            `"auto"`: converged for folder runs, loss for synthetic ones.
        normalize: str. Per-image normalisation inside the model
            (`models.normalization`): `"none"`, `"standardize"`, `"stretch"`,
            or `"auto"`: an `init_from` source's, else none.
        distribute: str. `"auto"`, `"none"`, `"mirrored"` or `"multiworker"`
            (`training.distribute`); `batch_size` is per replica.
        cpu_replicas: int or None. With `"mirrored"`: mirror over this many
            logical CPU devices (trying the multi-device path without GPUs).
        style: str. What the synthetic streams draw: `"captcha"` (the
            package as it comes), a style of `data.styles`, or `"mix"`.
        unlabelled: str or None. A folder of unlabelled captchas of the
            `data` style: train in rounds of pseudo-labels
            (`training.pseudo`).
        rounds: int. Pseudo-labelling rounds after the labelled one, at most.
        pseudo_threshold: float. Calibrated confidence a pseudo-label needs.
        pseudo_stable: bool. A pseudo-label must also be read from an
            augmented copy of its image.
        pseudo_labels: `pseudo.PseudoLabels` or None. Pseudo-labelled
            images this run trains on besides `data` (set by the rounds, not a flag).
        task: str. `"arithmetic"` when every label is an arithmetic question
            (`--style arith`, or such folder labels), else `"text"` (settled
            by `inputs.resolve_inputs`, not a flag; `RunConfig.task`).
    """

    family: str = "ctc"
    arch: str = "default"
    charset: str = None
    width: int = None
    height: int = None
    length: str = None
    grayscale: bool = None
    batch_size: int = 128
    steps: int = None
    val_steps: int = 40
    epochs: int = 100
    fine_tune_epochs: int = 100
    patience: int = 3
    min_epochs: int = None
    lr: float = 1e-3
    schedule: str = "cosine"
    workers: int = 2
    cache_size: int = 65536
    refresh: float = 0.125
    emphasize: str = "auto"
    emphasis: float = 3.0
    max_minutes: float = 60.0
    seed: int = 0
    run_name: str = None
    resume: bool = False
    overwrite: bool = False
    output_dir: str = RUNS_DIR
    logs_dir: str = "logs"
    eval_samples: int = 10000
    verbose: int = 1
    data: str = None
    val_data: str = None
    val_split: float = None
    test_data: str = None
    synthetic_ratio: float = 0.0
    augment: bool = True
    keep_aspect: bool = False
    strict: bool = False
    init_from: str = "auto"
    precision: str = "auto"
    distribute: str = "auto"
    cpu_replicas: int = None
    normalize: str = "auto"
    stopping: str = "auto"
    style: str = "captcha"
    unlabelled: str = None
    rounds: int = 3
    pseudo_threshold: float = 0.99
    pseudo_stable: bool = True
    pseudo_labels: object = dataclasses.field(default=None, repr=False)
    channels_chosen: bool = dataclasses.field(default=None, repr=False)
    task: str = dataclasses.field(default="text", repr=False)

    def __post_init__(self):
        # Imported here: the registry pulls in Keras, and `--help` should not wait for it.
        from captcha_keras.models import default_channels
        from captcha_keras.models import resolve_architecture
        from captcha_keras.models.normalization import NORMALIZATIONS

        # --grayscale/--rgb given: kept even when the --init-from run reads the other. Set once: a copy
        # (dataclasses.replace: --unlabelled rounds, workers) keeps what the user chose.
        if self.channels_chosen is None:
            self.channels_chosen = self.grayscale is not None
        self.init_from = self._starting_run()
        if self.min_epochs is None:
            self.min_epochs = MIN_EPOCHS_FROM_TRAINED if self.init_from else MIN_EPOCHS
        self.arch = resolve_architecture(self.arch, self.family)
        if self.grayscale is None:
            self.grayscale = default_channels(self.arch) == 1
        if self.data is None and (
            self.val_data or self.val_split or self.test_data or self.synthetic_ratio or self.unlabelled
        ):
            raise ValueError(
                "--val-data, --val-split, --test-data, --synthetic-ratio and --unlabelled go with --data DIR."
            )
        if not 0.0 < self.pseudo_threshold <= 1.0 or self.rounds < 0:
            raise ValueError(
                f"--pseudo-threshold is a confidence in (0, 1] and --rounds at least 0. Received: "
                f"{self.pseudo_threshold}, {self.rounds}"
            )
        if self.val_data and self.val_split:
            raise ValueError("Give --val-data or --val-split, not both.")
        if not 0.0 <= self.synthetic_ratio < 1.0 or round(self.batch_size * self.synthetic_ratio) >= self.batch_size:
            raise ValueError(
                f"--synthetic-ratio must leave room for real images in a batch of {self.batch_size}: "
                f"a share in [0, 1). Received: {self.synthetic_ratio}"
            )
        if self.precision not in PRECISIONS:
            raise ValueError(f"Unknown precision. Expected one of {PRECISIONS}. Received: precision={self.precision!r}")
        if self.normalize not in ("auto", *NORMALIZATIONS):
            raise ValueError(
                f"Unknown --normalize. Expected auto or one of {NORMALIZATIONS}. Received: {self.normalize!r}"
            )
        if self.stopping not in ("auto", "loss", "converged"):
            raise ValueError(f"Unknown --stopping. Expected auto, loss or converged. Received: {self.stopping!r}")
        if self.style not in STYLE_CHOICES:
            raise ValueError(f"Unknown --style. Expected one of {', '.join(STYLE_CHOICES)}. Received: {self.style!r}")
        if self.distribute not in STRATEGIES:
            raise ValueError(f"Unknown --distribute. Expected one of {STRATEGIES}. Received: {self.distribute!r}")
        if self.cpu_replicas is not None and (self.cpu_replicas < 1 or self.distribute != "mirrored"):
            raise ValueError(
                f"--cpu-replicas N (N >= 1) goes with --distribute mirrored. Received: "
                f"--cpu-replicas {self.cpu_replicas} with --distribute {self.distribute}"
            )
        if self.schedule not in SCHEDULES:
            raise ValueError(f"Unknown schedule. Expected one of {SCHEDULES}. Received: schedule={self.schedule!r}")
        if self.resume and self.run_name is None:
            raise ValueError("--resume needs the --run-name of the run to continue.")
        if self.data is None and self.init_from is None:
            self.width = self.width or SYNTHETIC_SIZE[0]
            self.height = self.height or SYNTHETIC_SIZE[1]
        if self.steps is None and self.data is None:
            self.steps = SYNTHETIC_STEPS
        if self.charset is not None:
            self.charset = Charset(self.charset).characters
        if self.length is not None:
            self.min_length, self.max_length = parse_length(self.length)
        if self.run_name is None:
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            self.run_name = f"{self.family}_{stamp}"

    def _starting_run(self):
        """`init_from` settled: `"auto"` is `runs.base_model()` where its own
        architecture, height, channels and normalisation fit this run."""
        if self.init_from in (None, "none"):
            return None
        if self.init_from != "auto":
            return self.init_from
        if self.resume and self.run_name:
            # A resumed run keeps the start it was made with; runs from before
            # "auto" recorded none, and started from scratch.
            # An --unlabelled run's start is its first round's.
            run_dir = os.path.join(self.output_dir, self.run_name)
            recorded = recorded_start(
                os.path.join(run_dir, ROUNDS_DIR, "round0", STATE_FILE)
                if self.unlabelled
                else os.path.join(run_dir, STATE_FILE)
            )
            return None if recorded in (None, "none") else recorded
        if self.family != "ctc" or self.data is None or self.arch != "default":
            return None
        base_dir = base_model()
        if base_dir is None:
            print(
                f"--init-from auto: the shipped base model {BASE_MODEL_NAME} is not here (neither in "
                "saved_models/ nor in the package); training from scratch."
            )
            return None
        base = RunConfig.load(base_dir)
        fits = self.height in (None, base.height) and self.normalize in ("auto", "none")
        return base_dir if fits else None

    @property
    def run_dir(self):
        return os.path.join(self.output_dir, self.run_name)

    @property
    def log_dir(self):
        return os.path.join(self.logs_dir, self.run_name)

    def run_config(self):
        return RunConfig(
            arch=self.arch,
            family=self.family,
            charset=self.charset,
            width=self.width,
            height=self.height,
            min_length=self.min_length,
            max_length=self.max_length,
            channels=1 if self.grayscale else 3,
            keep_aspect=self.keep_aspect,
            style=self.style,
            task=self.task,
            fusion=FUSION,
        )
