"""Exporting trained models for serving without this package's training code."""

import os


def export_savedmodel(model, path):
    """Exports a TF SavedModel whose `serve` takes 0-255 float32 images.

    Args:
        model: `keras.Model`. A trained model (its first layer rescales).
        path: str. Output folder; replaced if it exists.

    Returns:
        `path`.
    """
    import shutil

    if os.path.exists(path):
        shutil.rmtree(path)
    model.export(path, format="tf_saved_model", verbose=False)
    return path
