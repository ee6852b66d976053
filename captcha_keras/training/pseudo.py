"""Learning from unlabelled captchas: rounds of pseudo-labels (`--unlabelled DIR`).

People who bring their own captchas have thousands of them and labels for a
few. A run with `--unlabelled DIR` trains in rounds, each a whole run of its
own under `<run>/rounds/round<N>` (resumable like any run):

- round 0 trains on the labelled images alone (from the base model, as a
  folder run does);
- each later round reads every unlabelled image with the round before it,
  keeps the readings it can trust (`select_pseudo_labels`: a calibrated
  confidence of at least `--pseudo-threshold`, and the same text read again
  from an augmented copy), and fine-tunes that round's model on the labelled
  and the pseudo-labelled images together;
- rounds go on while they pay: until `--rounds`, the time budget, or a round
  that would keep fewer than 1% more pseudo-labels than the one before (it
  would train on the same data again).

The run folder is the last round's, with `pseudo_labels.csv` (what each
round kept) and a `pseudo_labels` section in `metrics.json`: for each round,
how many it kept, how many mistakes the calibration expects among them, and
their precision on the labelled validation images (read and selected as if
they were unlabelled: a check set whose labels are known). Validation and
test images are never pseudo-labelled, and nothing is written into the
user's folders.
"""

import csv
import dataclasses
import hashlib
import json
import os
import shutil
import time

import numpy as np

from captcha_keras.data.augment import Augmentation
from captcha_keras.data.folder import DataError
from captcha_keras.data.folder import FolderData
from captcha_keras.data.folder import decode_images
from captcha_keras.data.folder import list_folder_images
from captcha_keras.data.folder import scan_folder
from captcha_keras.data.labels import find_labels_file
from captcha_keras.data.labels import labels_charset
from captcha_keras.data.labels import read_labels_file
from captcha_keras.inference.reader import Reader
from captcha_keras.runs import METRICS_FILE
from captcha_keras.runs import PROGRESS_FILE
from captcha_keras.runs import PSEUDO_LABELS_FILE
from captcha_keras.runs import ROUNDS_DIR
from captcha_keras.runs import read_metrics
from captcha_keras.training.callbacks import read_state
from captcha_keras.training.callbacks import write_state

# Calibrated confidence a pseudo-label needs by default.
PSEUDO_THRESHOLD = 0.99
# Pseudo-labelling rounds after the labelled one, by default.
PSEUDO_ROUNDS = 3
# Share of the time budget round 0 (labels alone) may use; the rounds after share the rest.
FIRST_ROUND_SHARE = 0.4
# A round that would keep fewer than this many more pseudo-labels (relative) than the last is not run.
LEAST_GROWTH = 0.01
# Below this many minutes left, no further round starts.
LEAST_ROUND_MINUTES = 1.5


@dataclasses.dataclass
class PseudoLabels:
    """Images of the unlabelled folder with the texts a model gave them (what a round trains on)."""

    root: str
    files: list
    texts: list
    confidences: list


@dataclasses.dataclass
class Selection:
    """What one round's model read in the unlabelled images, and which readings it keeps."""

    texts: list
    confidences: np.ndarray
    stable: np.ndarray
    keep: np.ndarray


def _file_hash(path):
    with open(path, "rb") as f:
        return hashlib.sha1(f.read()).hexdigest()


def labelled_files(folder):
    """The image files of a labelled folder, as paths (those a labels file names, or all)."""
    labels_file = find_labels_file(folder)
    if labels_file:
        names = list(read_labels_file(labels_file)[0])
    else:
        names = list_folder_images(folder)
    return [os.path.join(folder, name) for name in names]


def check_unlabelled(unlabelled, labelled):
    """Refuses an unlabelled folder that is, holds or shares images with a labelled one.

    Args:
        unlabelled: str. The `--unlabelled` folder.
        labelled: dict `{flag: folder}` of `--data`, `--val-data`, `--test-data`.

    Raises:
        FileNotFoundError: `unlabelled` is not a folder.
        DataError: it is one of the labelled folders, inside one, holds one,
            or holds the same bytes as any of their images (named).
    """
    if not os.path.isdir(unlabelled):
        raise FileNotFoundError(f"--unlabelled {unlabelled}: no such folder.")
    mine = os.path.realpath(unlabelled)
    folders = {flag: folder for flag, folder in labelled.items() if folder}
    for flag, folder in folders.items():
        theirs = os.path.realpath(folder)
        if mine == theirs or mine.startswith(theirs + os.sep) or theirs.startswith(mine + os.sep):
            raise DataError(
                f"--unlabelled {unlabelled} is {flag} {folder} or nested with it: the unlabelled images must be "
                "others than the labelled ones and the test images. Give a folder of images without labels."
            )
    names = list_folder_images(unlabelled)
    if not names:
        raise DataError(
            f"--unlabelled {unlabelled} holds no image file (its subfolders are not searched): nothing to learn from."
        )
    hashes = {}
    for flag, folder in folders.items():
        for path in labelled_files(folder):
            if os.path.isfile(path):
                hashes.setdefault(_file_hash(path), (flag, path))
    shared = []
    for name in names:
        found = hashes.get(_file_hash(os.path.join(unlabelled, name)))
        if found:
            shared.append(f"{name} (= {found[1]}, {found[0]})")
    if shared:
        raise DataError(
            f"--unlabelled {unlabelled} holds {len(shared)} image(s) also in the labelled or test folders, e.g. "
            + "; ".join(shared[:3])
            + ". Pseudo-labelling must never see the test images, and a labelled image needs no pseudo-label: "
            "remove them from the unlabelled folder."
        )


def read_unlabelled(root, config, workers=2):
    """Decodes the unlabelled folder at a run's input size; unreadable files are reported and skipped.

    Returns:
        `(files, images)`: the readable files (relative to `root`) and their uint8 arrays.

    Raises:
        DataError: the folder holds no readable image.
    """
    files = list_folder_images(root)
    images, ok, problems = decode_images(
        root,
        files,
        config.width,
        config.height,
        config.channels,
        fusion=getattr(config, "fusion", None),
        keep_aspect=config.keep_aspect,
        workers=workers,
        progress="reading --unlabelled",
    )
    if problems:
        print(
            f"--unlabelled {root}: {len(problems)} unreadable file(s) skipped, e.g. "
            + "; ".join(f"{file}: {reason}" for file, reason in problems[:3])
        )
    if not ok:
        raise DataError(f"--unlabelled {root} holds no readable image (of {len(files)} file(s)).")
    return [files[i] for i in ok], images


def select_pseudo_labels(reader, images, threshold=PSEUDO_THRESHOLD, stable=True, seed=0, batch_size=256):
    """Reads images and chooses the readings to train on.

    A reading is kept when its calibrated confidence is at least `threshold`
    and, with `stable`, the model reads the same text in an augmented copy
    of the image (`Augmentation`, seeded): a reading that a small shift or
    rotation changes is one the model is not sure of, whatever its
    confidence says.

    Returns:
        A `Selection`.
    """

    def read(arrays):
        readings = []
        for start in range(0, len(arrays), batch_size):
            readings += reader.read_arrays(arrays[start : start + batch_size])
        return readings

    readings = read(images)
    texts = [r.text for r in readings]
    confidences = np.array([r.confidence for r in readings])
    if stable:
        augmented = Augmentation()(images, np.random.default_rng([seed, 7]))
        again = np.array([r.text == t for r, t in zip(read(augmented), texts)])
    else:
        again = np.ones(len(texts), dtype=bool)
    c = reader.config
    possible = np.array([c.min_length <= len(t) <= c.max_length for t in texts])
    return Selection(texts, confidences, again, (confidences >= threshold) & again & possible)


def check_precision(selection, truths):
    """How a selection did on images whose labels are known: `{images, kept, right, precision}`."""
    kept = np.flatnonzero(selection.keep)
    right = sum(selection.texts[i] == truths[i] for i in kept)
    return {
        "images": len(truths),
        "kept": int(len(kept)),
        "right": int(right),
        "precision": right / len(kept) if len(kept) else None,
    }


def pseudo_folder(pseudo, width, height, channels, keep_aspect, workers=2):
    """The pseudo-labelled images as `FolderData` at a round's input size."""
    images, ok, problems = decode_images(
        pseudo.root,
        pseudo.files,
        width,
        height,
        channels,
        keep_aspect=keep_aspect,
        workers=workers,
        progress="reading pseudo-labelled images",
    )
    return FolderData(
        root=pseudo.root,
        files=[pseudo.files[i] for i in ok],
        texts=[pseudo.texts[i] for i in ok],
        images=images,
        problems=[],
    )


def join_folders(first, second):
    """Two `FolderData` of the same input size as one (the labelled first)."""
    return FolderData(
        root=first.root,
        files=first.files + [os.path.join(second.root, f) for f in second.files],
        texts=first.texts + second.texts,
        images=np.concatenate([first.images, second.images]),
        problems=first.problems,
    )


def round_name(config, number):
    """The `run_name` of round `number` of an `--unlabelled` run: `<run>/rounds/round<N>`."""
    return os.path.join(config.run_name, ROUNDS_DIR, f"round{number}")


def train_with_unlabelled(config, train):
    """Trains `config` in rounds of pseudo-labels; returns the run folder.

    Every input is checked before anything is trained or deleted (each
    round's own run checks its folders before `--overwrite` replaces it).
    `--resume` skips the finished rounds, goes on with the one in progress
    on the pseudo-labels it had (`rounds/round<N>_pseudo_labels.csv`), and
    counts the minutes the run had already used against `--max-minutes`.

    Args:
        config: `TrainConfig` with `unlabelled` set.
        train: callable. Trains one round's `TrainConfig` and returns its folder (`recipe.train`).
    """
    if config.data is None:
        raise ValueError("--unlabelled goes with --data: the labelled images the first round trains on.")
    check_unlabelled(
        config.unlabelled, {"--data": config.data, "--val-data": config.val_data, "--test-data": config.test_data}
    )
    run_dir = config.run_dir
    if os.path.exists(run_dir) and not (config.resume or config.overwrite):
        raise FileExistsError(
            f"{run_dir} already exists. Pass --resume to continue it, --overwrite to start it again, or another "
            "--run-name."
        )
    shown = labels_charset(scan_folder(config.data).labels)
    # A character no label shows is unlearned by round 0, and its confusions come back as
    # confident pseudo-labels (really-simple-captcha from 10 labels: docs/real-captchas.md).
    print(
        f"Pseudo-labels: the labels of {config.data} show {len(shown)} distinct characters ({shown}); the run "
        "reads only those unless --charset names more, and a character no label shows is one the rounds may "
        "teach wrong: check the run on labelled images."
    )
    rounds_dir = os.path.join(run_dir, ROUNDS_DIR)
    os.makedirs(rounds_dir, exist_ok=True)
    progress_path = os.path.join(rounds_dir, PROGRESS_FILE)
    progress = read_state(progress_path) if config.resume else {}
    done = {record["round"]: record for record in progress.get("rounds", [])}
    clock = _Minutes(progress.get("minutes", 0.0))
    budget = config.max_minutes or None

    def minutes_left():
        return None if budget is None else budget - clock.minutes()

    rounds, pseudo, last_dir, last_kept = [], None, None, 0
    for number in range(config.rounds + 1):
        name = round_name(config, number)
        round_dir = os.path.join(config.output_dir, name)
        finished = config.resume and os.path.isfile(os.path.join(round_dir, METRICS_FILE))
        if number:
            left = minutes_left()
            if not finished and left is not None and left < LEAST_ROUND_MINUTES:
                print(f"Pseudo-labels: {left:.1f} min left, no round {number}.")
                break
            try:
                record, pseudo = _pseudo_round(config, number, last_dir, done.get(number), rounds_dir)
            except DataError as error:
                print(f"Pseudo-labels: round {number} cannot read the unlabelled images ({error}); stopping.")
                break
            if record["kept"] < max(1, (1 + LEAST_GROWTH) * last_kept):
                print(
                    f"Pseudo-labels: round {number} would keep no unlabelled image: stopping."
                    if not record["kept"]
                    else f"Pseudo-labels: round {number} would keep {record['kept']:,} images, not 1% more than the "
                    f"{last_kept:,} of round {number - 1}: stopping."
                )
                rounds.append(dict(record, trained=False))
                break
            last_kept = record["kept"]
        else:
            record = {"round": 0, "kept": 0}
        if finished:
            print(f"Pseudo-labels: round {number} is done ({round_dir}).")
        else:
            # After the pseudo-labelling above: its reading counts against this round's share.
            left = minutes_left()
            share = FIRST_ROUND_SHARE if number == 0 else 1.0 / (config.rounds + 1 - number)
            round_minutes = 0.0 if left is None else max(left * share, LEAST_ROUND_MINUTES)
            print(
                f"Pseudo-labels: round {number}, {round_minutes:.1f} min, "
                + (
                    f"on {len(pseudo.files):,} pseudo-labelled images besides the labels"
                    if pseudo
                    else "on the labels alone"
                )
            )
            train(
                dataclasses.replace(
                    config,
                    unlabelled=None,
                    pseudo_labels=pseudo,
                    run_name=name,
                    max_minutes=round_minutes,
                    init_from=last_dir if number else config.init_from,
                    # Later rounds start from a trained model: the fewest epochs that allows.
                    min_epochs=config.min_epochs if number == 0 else None,
                )
            )
        metrics = read_metrics(round_dir) or {}
        record.update(
            trained=True,
            minutes=round(clock.minutes(), 2),
            accuracy=metrics.get("sequence_accuracy"),
            scored_on=metrics.get("scored_on"),
        )
        rounds.append(record)
        last_dir = round_dir
        write_state(progress_path, {"minutes": clock.minutes(), "rounds": rounds})
    _publish(last_dir, run_dir, rounds, config)
    return run_dir


class _Minutes:
    """Minutes the run has used, across invocations (a resume goes on from `before`)."""

    def __init__(self, before=0.0):
        self.before = before
        self.started = time.monotonic()

    def minutes(self):
        return self.before + (time.monotonic() - self.started) / 60


def _pseudo_round(config, number, previous_dir, recorded, rounds_dir):
    """The pseudo-labels of round `number`: the previous round's trusted readings of the unlabelled images.

    On a resume, the pseudo-labels round `number` was started with (its CSV
    in `rounds_dir`) are read back rather than computed again.
    """
    path = os.path.join(rounds_dir, f"round{number}_{PSEUDO_LABELS_FILE}")
    if recorded is not None and os.path.isfile(path):
        pseudo = read_pseudo_labels(path, config.unlabelled)
        print(f"Pseudo-labels for round {number}: the {len(pseudo.files):,} it was started with ({path}).")
        return dict(recorded), pseudo
    reader = Reader(previous_dir)
    files, images = read_unlabelled(config.unlabelled, reader.config, workers=config.workers)
    selection = select_pseudo_labels(reader, images, config.pseudo_threshold, config.pseudo_stable, config.seed)
    kept = np.flatnonzero(selection.keep)
    expected = float((1 - selection.confidences[kept]).sum())
    calibrated = reader.config.temperature != 1.0
    record = {
        "round": number,
        "unlabelled": len(files),
        "kept": int(len(kept)),
        "threshold": config.pseudo_threshold,
        "stable": config.pseudo_stable,
        "calibrated": calibrated,
        "expected_mistakes": round(expected, 2),
        "check": _check_set(config, reader, previous_dir),
    }
    check = record["check"]
    print(
        f"Pseudo-labels for round {number}: kept {len(kept):,} of {len(files):,} unlabelled images (confidence >= "
        f"{config.pseudo_threshold:g}"
        + (", stable under augmentation" if config.pseudo_stable else "")
        + f"); their {'calibrated' if calibrated else 'uncalibrated'} confidences expect {expected:.1f} mistakes "
        f"among them. On the {check['images']} labelled validation images the same rule keeps {check['kept']}"
        + (f", {check['precision']:.2%} right." if check["kept"] else ".")
    )
    pseudo = PseudoLabels(
        config.unlabelled,
        [files[i] for i in kept],
        [selection.texts[i] for i in kept],
        [float(selection.confidences[i]) for i in kept],
    )
    write_pseudo_labels(path, number, pseudo)
    return record, pseudo


def _check_set(config, reader, round_dir):
    """The selection rule's precision on the round's validation images, read as if unlabelled."""
    from captcha_keras.data.folder import read_folder
    from captcha_keras.runs import HELDOUT_FILE

    c = reader.config
    read = dict(
        width=c.width, height=c.height, channels=c.channels, keep_aspect=c.keep_aspect, progress=None, fusion=c.fusion
    )
    if config.val_data:
        data = read_folder(config.val_data, **read)
    else:
        with open(os.path.join(round_dir, HELDOUT_FILE)) as f:
            held = {line.strip() for line in f if line.strip()}
        data = read_folder(config.data, only=held, **read)
    selection = select_pseudo_labels(reader, data.images, config.pseudo_threshold, config.pseudo_stable, config.seed)
    return check_precision(selection, data.texts)


def write_pseudo_labels(path, number, pseudo, append=False):
    """Writes (or appends) `round,file,text,confidence` rows of one round's pseudo-labels, UTF-8."""
    with open(path, "a" if append else "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        if not append:
            writer.writerow(["round", "file", "text", "confidence"])
        writer.writerows(
            [number, file, text, f"{c:.6f}"] for file, text, c in zip(pseudo.files, pseudo.texts, pseudo.confidences)
        )


def read_pseudo_labels(path, root):
    """The `PseudoLabels` of a CSV that `write_pseudo_labels` wrote."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return PseudoLabels(
        root, [r["file"] for r in rows], [r["text"] for r in rows], [float(r["confidence"]) for r in rows]
    )


def _publish(last_dir, run_dir, rounds, config):
    """Makes the run folder the last round's (what an earlier publish left is cleared first), with
    every trained round's pseudo-labels in one CSV and the rounds' record in `metrics.json`."""
    for name in os.listdir(run_dir):
        if name != ROUNDS_DIR:
            path = os.path.join(run_dir, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    for name in os.listdir(last_dir):
        source, target = os.path.join(last_dir, name), os.path.join(run_dir, name)
        (shutil.copytree if os.path.isdir(source) else shutil.copyfile)(source, target)
    trained = [r for r in rounds if r.get("trained")]
    # Rounds past this run's last, left by an earlier run of the name (--overwrite), are not this run's.
    last = trained[-1]["round"]
    for name in os.listdir(os.path.join(run_dir, ROUNDS_DIR)):
        number = name[len("round") :].split("_")[0]
        if name.startswith("round") and number.isdigit() and int(number) > last:
            path = os.path.join(run_dir, ROUNDS_DIR, name)
            shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
    for record in trained[1:]:
        number = record["round"]
        pseudo = read_pseudo_labels(
            os.path.join(run_dir, ROUNDS_DIR, f"round{number}_{PSEUDO_LABELS_FILE}"), config.unlabelled
        )
        write_pseudo_labels(os.path.join(run_dir, PSEUDO_LABELS_FILE), number, pseudo, append=number > 1)
    metrics = read_metrics(run_dir) or {}
    metrics["pseudo_labels"] = {"unlabelled": config.unlabelled, "rounds": rounds}
    with open(os.path.join(run_dir, METRICS_FILE), "w") as f:
        json.dump(metrics, f, indent=2)
    print(f"Pseudo-labels: {len(trained)} round(s) trained; the run is round {trained[-1]['round']}'s, in {run_dir}.")
