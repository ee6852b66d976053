"""Pictures a person would rather look at than read: curves, prediction grids, diagrams."""

import csv
import io
import os
import warnings

import matplotlib

matplotlib.use("Agg")  # Files only: training runs headless.
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

RIGHT, WRONG = "#1a7f37", "#cf222e"

# Chinese labels: matplotlib's own font holds no CJK glyph, so titles fall back to the sans face
# the synthetic styles ship (a file beside the package's data, not an import of it).
_CJK_FONT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "fonts", "cjk", "wqy-microhei.ttf")
if os.path.isfile(_CJK_FONT):
    from matplotlib import font_manager  # noqa: E402

    font_manager.fontManager.addfont(_CJK_FONT)
    matplotlib.rcParams["font.family"] = ["DejaVu Sans", font_manager.FontProperties(fname=_CJK_FONT).get_name()]


def read_history(csv_path):
    """Reads a CSVLogger file into `{column: [float, ...]}`."""
    with open(csv_path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {}
    for row in rows:
        for key, value in row.items():
            try:
                columns.setdefault(key, []).append(float(value))
            except (TypeError, ValueError):
                columns.setdefault(key, []).append(float("nan"))
    return columns


def plot_history(csv_path, out_path):
    """Plots loss, sequence accuracy and learning rate per epoch from a training CSV."""
    history = read_history(csv_path)
    epochs = np.asarray(history.get("epoch", []), dtype=int) + 1
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    for key, label in (("loss", "train"), ("val_loss", "validation")):
        if key in history:
            axes[0].plot(epochs, history[key], marker=".", label=label)
    axes[0].set(title="Loss", xlabel="epoch", yscale="log")
    if "val_seq_acc" in history:
        axes[1].plot(epochs, np.asarray(history["val_seq_acc"]) * 100, marker=".", color=RIGHT)
    axes[1].set(title="Validation sequence accuracy (%)", xlabel="epoch")
    if "learning_rate" in history:
        axes[2].plot(epochs, history["learning_rate"], marker=".", color="#6f42c1")
    axes[2].set(title="Learning rate", xlabel="epoch", yscale="log")
    if "phase" in history and 2 in history["phase"]:
        start = epochs[history["phase"].index(2)]
        for ax in axes:
            ax.axvline(start - 0.5, color="grey", linestyle="--", linewidth=1)
        axes[1].annotate("phase 2 (lr x0.1)", (start - 0.5, 0.02), xycoords=("data", "axes fraction"), color="grey")
    for ax in axes:
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes[0].legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


def plot_time_to_accuracy(curves, out_path, targets=(0.99, 0.995), highlight=None):
    """Validation sequence accuracy against wall-clock minutes, one line a run.

    Args:
        curves: dict `{label: (minutes, accuracies)}`.
        out_path: str. PNG to write.
        targets: accuracies drawn as dotted lines.
        highlight: labels drawn bold, the others thin and dashed (earlier
            runs, for comparison). None draws every run bold.
    """
    fig, ax = plt.subplots(figsize=(8, 4.5))
    # Bold runs take the first colours; the thin ones go on from there, so a
    # run that shares a colour with another differs from it in line style.
    colors = plt.get_cmap("tab10").colors
    order = sorted(curves, key=lambda label: highlight is not None and label not in highlight)
    for i, label in enumerate(order):
        minutes, accuracy = curves[label]
        bold = highlight is None or label in highlight
        style = dict(marker=".", linewidth=2) if bold else dict(linestyle="--", linewidth=1, alpha=0.8)
        ax.plot(minutes, np.asarray(accuracy) * 100, color=colors[i % len(colors)], label=label, **style)
    for target in targets:
        ax.axhline(target * 100, color="grey", linestyle=":", linewidth=1)
    for target, below in zip(targets, [True] + [False] * (len(targets) - 1)):
        ax.annotate(
            f"{target:.1%}",
            (1.0, target * 100),
            xycoords=("axes fraction", "data"),
            color="grey",
            ha="right",
            va="top" if below else "bottom",
        )
    low = min((min(a) for _, a in curves.values() if len(a)), default=0.9)
    ax.set(
        title="Time to accuracy (validation, whole sequence)",
        xlabel="wall-clock minutes, data drawing included",
        ylabel="sequence accuracy (%)",
        ylim=(max(low * 100, 80) - 1, 100.2),
    )
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


def prediction_figure(images, truths, predictions, confidences=None, columns=4, title=None):
    """A grid of images titled with their predictions: green when right, red when wrong.

    With `truths=None`, the titles are the `predictions` (labels) in black.
    """
    count = len(images)
    rows = max(1, -(-count // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(columns * 2.6, rows * 1.7), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= count:
            continue
        image = np.asarray(images[i])
        ax.imshow(image[..., 0] if image.shape[-1] == 1 else image.astype("uint8"), cmap="gray", vmin=0, vmax=255)
        right = truths is None or truths[i] == predictions[i]
        # An empty reading (all blanks) would otherwise show as nothing at all.
        text = f"{predictions[i] or '(empty)'}" + (f" ({confidences[i]:.2f})" if confidences is not None else "")
        if not right:
            text += f"\ntrue: {truths[i]}"
        ax.set_title(text, color="black" if truths is None else RIGHT if right else WRONG, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_predictions(images, truths, predictions, out_path, confidences=None, columns=4, title=None):
    """Saves `prediction_figure` as a PNG."""
    fig = prediction_figure(images, truths, predictions, confidences, columns, title)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)


def figure_to_png(fig):
    """Renders a figure to PNG bytes (for TensorBoard) and closes it."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()


def plot_architecture(model, out_path):
    """Draws the model diagram with `keras.utils.plot_model`.

    Returns:
        True if the diagram was written; False, with a warning that says what
        to install, when Graphviz or pydot is missing.
    """
    import keras

    try:
        keras.utils.plot_model(model, to_file=out_path, show_shapes=True, show_layer_names=True, dpi=72)
    except ImportError as error:
        warnings.warn(
            f"No model diagram: {error}. Install Graphviz (for example `apt-get install graphviz`) "
            "and `pip install pydot`.",
            stacklevel=2,
        )
        return False
    return True


def write_prediction_grid(path, images, texts, predictions, count=24, title=None):
    """A grid of the first `count` readings (`.text`, `.confidence`), with the wrong ones first."""
    order = sorted(range(len(texts)), key=lambda i: texts[i] == predictions[i].text)[:count]
    plot_predictions(
        images[order],
        [texts[i] for i in order],
        [predictions[i].text for i in order],
        out_path=path,
        confidences=[predictions[i].confidence for i in order],
        title=title,
    )


def plot_calibration(out_path, table, coverage, precision, title=None):
    """The reliability diagram beside the precision-coverage curve.

    Args:
        out_path: str. PNG to write.
        table: the bins of `evaluation.reliability` (`low`, `high`, `count`,
            `confidence`, `accuracy`).
        coverage, precision: arrays of `evaluation.precision_coverage`.
        title: str or None. Above both panels (the ECE, the data).
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5))
    left.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="calibrated")
    for row in table:
        width = row["high"] - row["low"]
        left.bar(row["low"], row["accuracy"], width=width, align="edge", color=RIGHT, alpha=0.6, edgecolor="white")
        left.plot(row["confidence"], row["accuracy"], "o", color="black", markersize=3)
        left.annotate(
            str(row["count"]),
            (row["low"] + width / 2, min(row["accuracy"] + 0.02, 1.0)),
            ha="center",
            fontsize=7,
            color="grey",
        )
    left.set(
        title="Reliability (bars: accuracy, dots: mean confidence; counts above)",
        xlabel="confidence",
        ylabel="accuracy",
        xlim=(0, 1),
        ylim=(0, 1.05),
    )
    left.title.set_fontsize(9)
    left.legend(loc="upper left")
    coverage, precision = np.asarray(coverage) * 100, np.asarray(precision) * 100
    right.plot(
        np.concatenate([[0], coverage]), np.concatenate([precision[:1], precision]), color=RIGHT, drawstyle="steps-pre"
    )
    for target in (99.0, 99.9):
        right.axhline(target, color="grey", linestyle=":", linewidth=1)
    right.axvline(95, color="grey", linestyle=":", linewidth=1)
    low = min(float(precision.min()), 99.0) if len(precision) else 99.0
    right.set(
        title="Precision of the readings kept, most confident first",
        xlabel="coverage (%)",
        ylabel="precision (%)",
        xlim=(0, 100.5),
        ylim=(max(low - 0.5, 0), 100.1),
    )
    right.title.set_fontsize(9)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
