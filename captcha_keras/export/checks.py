"""Checking an export against the run's SavedModel before it replaces anything.

Every export is read on fresh captchas: the SavedModel's reading signature
against `Reader` in Python, an ONNX or float LiteRT model against the
SavedModel (texts equal), a quantized LiteRT model against the SavedModel's
accuracy (within `QUANTIZED_TOLERANCE`).

A quantized model reads some captchas differently by design, so its check is
a paired test on the same images rather than a comparison of two accuracies.
Only the images the two models disagree on say anything: those the quantized
model loses (the SavedModel read them right, it does not) and those it gains
(the reverse). Losing `tolerance * samples` images more than it gains is what
the tolerance allows, so a model exactly at the tolerance loses each of the
`lost + gained` discordant images with probability
`1/2 + tolerance * samples / (2 * (lost + gained))` (1/2, McNemar's exact
test, when the tolerance is 0). The p-value is the exact binomial chance
(`math.comb`) of losing at least as many at that share; the check refuses
only below `FALSE_REFUSAL_RATE` (0.1%), when chance alone no longer accounts
for the losses. Computed exactly over the number of discordant images, the
chance of refusing a model whose drop is exactly the tolerance stays at about
0.1% (at most 0.11% for 60, 500 and 4,000 images with 0.4% to 30% of them
discordant); a model within the tolerance is refused less often still.

A small sample cannot refuse a small drop: with no gain, 10 or more losses
are needed before chance is ruled out, so 60 images can only detect a drop of
18 points and 500 one of 2.6 points. `detectable_drop` says what a sample can
detect and `samples_to_detect` how many images a given drop needs; the check
reports both, so that a pass on few images is not taken for a tight one.
"""

import dataclasses
import io
import math
import os

import numpy as np
from PIL import Image

# Seeds of no run: the test stream (never trained on) of these seeds is
# drawn by nothing else, and the calibration images come from the training
# stream of another.
CHECK_SEED = 9001
CALIBRATION_SEED = 9002
QUANTIZED_TOLERANCE = 0.003  # accuracy, as a fraction
# The chance of refusing a quantized model whose drop is exactly the tolerance:
# small, because a refusal leaves a good export unwritten.
FALSE_REFUSAL_RATE = 0.001


class ExportCheckError(ValueError):
    """An export read differently from the SavedModel: it was not written."""


@dataclasses.dataclass
class CheckSet:
    """Labelled images for checking: model-input arrays, encoded files, labels."""

    images: np.ndarray
    blobs: list
    texts: list
    source: str


def run_test_data(run_dir):
    """The labelled folder a folder run was scored on (its `metrics.json`'s `data`), if it is here."""
    from captcha_keras.runs import read_metrics

    data = (read_metrics(run_dir) or {}).get("data")
    return data if data and os.path.isdir(data) else None


def check_set(config, samples, data=None, seed=CHECK_SEED):
    """Up to `samples` labelled images: from the folder `data`, else fresh synthetic test captchas.

    Files of a folder keep their own bytes (so the reading signature decodes
    and resizes them itself); synthetic captchas are encoded as PNG.
    """
    if data:
        from captcha_keras.data.folder import read_folder

        folder = read_folder(
            data, config.width, config.height, config.channels, config.keep_aspect, progress=None, fusion=config.fusion
        )
        keep = min(samples, len(folder.texts))
        files = folder.files[:keep]
        blobs = []
        for name in files:
            with open(os.path.join(data, name), "rb") as f:
                blobs.append(f.read())
        return CheckSet(folder.images[:keep], blobs, list(folder.texts[:keep]), f"{keep} images of {data}")
    from captcha_keras.data.synthetic import draw_test_set

    images, texts = draw_test_set(config, samples, seed)
    return CheckSet(
        images, [encode_png(a) for a in images], list(texts), f"{samples} fresh synthetic captchas (seed {seed})"
    )


def calibration_images(config, samples, data=None):
    """float32 batches of one image for int8's representative dataset: the run's own kind of data.

    From `data` (a folder of the run's training images) when given, else the
    synthetic training stream drawn as the run was trained.
    """
    if data:
        from captcha_keras.data.folder import read_folder

        images = read_folder(
            data, config.width, config.height, config.channels, config.keep_aspect, progress=None, fusion=config.fusion
        ).images[:samples]
    else:
        from captcha_keras.data.synthetic import SyntheticCaptchas
        from captcha_keras.data.synthetic import draw_batches

        batch = min(250, samples)
        stream = SyntheticCaptchas(
            config.charset,
            config.width,
            config.height,
            (config.min_length, config.max_length),
            grayscale=config.grayscale,
            seed=CALIBRATION_SEED,
            stream="train",
            batch_size=batch,
            steps=-(-samples // batch),
            family=None,
            style=config.style,
            fusion=config.fusion,
        )
        images, _ = draw_batches(stream, progress=None)
        images = images[:samples]
    return lambda: (images[i : i + 1].astype("float32") for i in range(len(images)))


def encode_png(array):
    """A model-input array `(h, w, 1 or 3)` as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(array[..., 0] if array.shape[-1] == 1 else array).save(buffer, "PNG")
    return buffer.getvalue()


def predict_texts(reader, images, batch_size=256):
    """The texts a `Reader` reads of model-input arrays."""
    return [
        r.text
        for start in range(0, len(images), batch_size)
        for r in reader.read_arrays(images[start : start + batch_size])
    ]


def compare_texts(expected, got, what, against):
    """Raises `ExportCheckError` unless the texts are equal; returns the figures."""
    differ = [i for i, (a, b) in enumerate(zip(expected, got)) if a != b]
    if differ:
        examples = ", ".join(f"{expected[i]!r} -> {got[i]!r}" for i in differ[:5])
        raise ExportCheckError(
            f"{what} read {len(differ)} of {len(expected)} captchas differently from {against} "
            f"({len(differ) / len(expected):.2%}; e.g. {examples}). Nothing was replaced."
        )
    return {"samples": len(expected), "differences": 0}


def binomial_tail(successes, trials, probability):
    """The exact chance of at least `successes` in `trials` draws that each succeed with `probability`.

    Summed in log space from `math.comb`, so that thousands of trials neither
    overflow a float nor lose the tail to underflow.

    Args:
        successes: int. The fewest successes counted.
        trials: int. Draws.
        probability: float. Each draw's chance of success.

    Example:
    >>> binomial_tail(10, 10, 0.5)  # 2 ** -10
    0.0009765625
    """
    if successes <= 0 or probability >= 1:
        return 1.0
    if successes > trials or probability <= 0:
        return 0.0
    # Each term from the one before: C(n, k + 1) / C(n, k) = (n - k) / (k + 1).
    odds = math.log(probability) - math.log1p(-probability)
    logs = [
        math.log(math.comb(trials, successes))
        + successes * math.log(probability)
        + (trials - successes) * math.log1p(-probability)
    ]
    for k in range(successes, trials):
        logs.append(logs[-1] + math.log(trials - k) - math.log(k + 1) + odds)
    top = max(logs)
    return min(1.0, math.exp(top) * math.fsum(math.exp(x - top) for x in logs))


def drop_p_value(lost, gained, samples, tolerance=QUANTIZED_TOLERANCE):
    """The chance that a model exactly `tolerance` worse loses at least `lost` of the images the two models disagree on.

    A model at the tolerance loses `tolerance * samples` images more than it
    gains, in expectation: of the `lost + gained` discordant images, it loses
    each with probability `1/2 + tolerance * samples / (2 * (lost + gained))`
    (1/2 for a tolerance of 0: McNemar's exact test). A small value says that
    the quantized model reads worse than that.

    Args:
        lost: int. Images the SavedModel read right and the quantized model wrong.
        gained: int. Images the quantized model read right and the SavedModel wrong.
        samples: int. Images both read.
        tolerance: float. The accuracy drop allowed, as a fraction. Defaults to
            `QUANTIZED_TOLERANCE`.

    Example:
    >>> drop_p_value(1, 0, 60)  # the issue's case: one captcha lost of 60, a chance of 59%
    0.59
    """
    discordant = lost + gained
    if not discordant:
        return 1.0
    return binomial_tail(lost, discordant, 0.5 + tolerance * samples / (2 * discordant))


def detectable_drop(samples, tolerance=QUANTIZED_TOLERANCE, false_refusal_rate=FALSE_REFUSAL_RATE):
    """The smallest accuracy drop `samples` images can refuse, as a fraction; None if they can refuse none.

    The best case for detection: every discordant image lost, none gained. A
    smaller drop is accepted whatever the images, so a pass on this many
    images says only that the drop is likely below this one.

    Args:
        samples: int. Images the check reads.
        tolerance: float. The accuracy drop allowed. Defaults to `QUANTIZED_TOLERANCE`.
        false_refusal_rate: float. The p-value below which the check refuses.
            Defaults to `FALSE_REFUSAL_RATE`.

    Example:
    >>> detectable_drop(500)  # 13 images lost of 500
    0.026
    """
    for lost in range(1, samples + 1):
        if drop_p_value(lost, 0, samples, tolerance) < false_refusal_rate:
            return lost / samples
    return None


def samples_to_detect(drop, tolerance=QUANTIZED_TOLERANCE, false_refusal_rate=FALSE_REFUSAL_RATE):
    """The fewest images on which `drop` is detectable (`detectable_drop` at most `drop`); None if no number is.

    A drop of the tolerance or less is what the check accepts, so no sample
    detects it; beyond it, losing `drop * samples` images and gaining none has
    the p-value `share ** lost` with `share = 1/2 + tolerance / (2 * drop)`.

    Args:
        drop: float. An accuracy drop, as a fraction.
        tolerance: float. The accuracy drop allowed. Defaults to `QUANTIZED_TOLERANCE`.
        false_refusal_rate: float. The p-value below which the check refuses.
            Defaults to `FALSE_REFUSAL_RATE`.

    Example:
    >>> samples_to_detect(0.006)  # twice the tolerance: 25 images lost of 4,167
    4167
    """
    if drop <= tolerance:
        return None
    share = 0.5 + tolerance / (2 * drop)
    lost = math.floor(math.log(false_refusal_rate) / math.log(share)) + 1
    return math.ceil(lost / drop - 1e-9)  # 1e-9: a quotient such as 25 / 0.006 is not quite whole in floats


def describe_sensitivity(figures):
    """What a quantized check's sample can detect, and the `--check-samples` that detects twice the tolerance.

    Args:
        figures: dict. `compare_accuracy`'s figures.
    """
    samples, drop, needed = figures["samples"], figures["detectable_drop"], figures["samples_to_detect"]
    tolerance = figures["tolerance"] * 100
    short = needed is not None and samples < needed
    if drop is None:
        sentence = f"{samples:,} captchas are too few to detect any drop"
    else:
        only = "only " if short else ""
        sentence = f"{samples:,} captchas can {only}detect a drop of {drop * 100:.1f} points or more"
    if short:
        sentence += (
            f"; {needed:,} would detect {2 * tolerance:.1f} "
            f"(twice the {tolerance:.1f} allowed; --check-samples {needed})"
        )
    return sentence


def compare_accuracy(truths, expected, got, what, tolerance=QUANTIZED_TOLERANCE, false_refusal_rate=FALSE_REFUSAL_RATE):
    """Raises `ExportCheckError` if the images say that `got` reads worse than `expected` by more than `tolerance`.

    Paired, on the same images: counts those the quantized model loses and
    gains, and refuses only when `drop_p_value` is below `false_refusal_rate`,
    that is when a model `tolerance` worse would lose that many with a chance
    below it (0.1%). On 60 captchas that a SavedModel reads 2 of right, an
    int8 model reading 1 is accepted: one loss is chance.

    Args:
        truths: list of str. The images' labels.
        expected: list of str. The SavedModel's texts of the same images.
        got: list of str. The quantized model's texts of the same images.
        what: str. The export, as the message names it: `"The litert-int8 model"`.
        tolerance: float. The accuracy drop allowed, as a fraction. Defaults to
            `QUANTIZED_TOLERANCE` (0.3 points).
        false_refusal_rate: float. The p-value below which the check refuses: the
            chance of refusing a model exactly `tolerance` worse. Defaults to
            `FALSE_REFUSAL_RATE` (0.1%).

    Returns:
        A dict: `samples`, `accuracy` and `savedmodel_accuracy` (fractions),
        `differences` (texts that differ), `lost`, `gained`, `p_value`,
        `tolerance`, `false_refusal_rate`, `detectable_drop` (the smallest drop
        this many images can refuse, or None) and `samples_to_detect` (the
        images that would detect twice the tolerance).

    Example:
    >>> compare_accuracy(["AB", "CD"], ["AB", "CD"], ["AB", "CB"], "The litert-int8 model")["lost"]
    1
    """
    samples = len(truths)
    if not samples:
        raise ValueError("No captchas to compare the models on. Received: truths=[]")
    triples = list(zip(truths, expected, got))
    lost = sum(saved == truth != quantized for truth, saved, quantized in triples)
    gained = sum(quantized == truth != saved for truth, saved, quantized in triples)
    reference = sum(saved == truth for truth, saved, _ in triples) / samples
    accuracy = sum(quantized == truth for truth, _, quantized in triples) / samples
    p_value = drop_p_value(lost, gained, samples, tolerance)
    figures = {
        "samples": samples,
        "accuracy": accuracy,
        "savedmodel_accuracy": reference,
        "differences": sum(saved != quantized for _, saved, quantized in triples),
        "lost": lost,
        "gained": gained,
        "p_value": p_value,
        "tolerance": tolerance,
        "false_refusal_rate": false_refusal_rate,
        "detectable_drop": detectable_drop(samples, tolerance, false_refusal_rate),
        # A drop of exactly the tolerance is accepted on any sample; twice it is the nearest round target.
        "samples_to_detect": samples_to_detect(2 * tolerance, tolerance, false_refusal_rate),
    }
    if p_value < false_refusal_rate:
        raise ExportCheckError(
            f"{what} read {accuracy:.2%} of {samples:,} captchas right, the SavedModel {reference:.2%}: it lost {lost} "
            f"captchas the SavedModel read right and gained {gained} it read wrong, "
            f"{(reference - accuracy) * 100:.2f} points lower. "
            f"A model only {tolerance * 100:.1f} points worse would lose that many with a chance of {p_value:.2g} "
            f"(the check refuses below {false_refusal_rate:.2g}). {describe_sensitivity(figures)}. "
            "Nothing was replaced."
        )
    return figures
