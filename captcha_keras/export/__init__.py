"""Exports of a trained run: SavedModel (pixels and bytes in), ONNX, LiteRT."""

from captcha_keras.export.folding import fold_batch_norms
from captcha_keras.export.savedmodel import export_savedmodel
from captcha_keras.export.savedmodel import reexport_run

__all__ = ["export_savedmodel", "fold_batch_norms", "reexport_run"]
