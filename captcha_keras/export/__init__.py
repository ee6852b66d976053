"""Exports of a trained run: SavedModel (pixels and bytes in), ONNX, LiteRT.

savedmodel.py  the SavedModel: pixels or encoded image bytes in, texts out
graph.py       reading captchas inside a TensorFlow graph (the bytes-in signature)
folding.py     batch normalizations folded into the convolutions before them
portable.py    ONNX and LiteRT exports of a run's pixel model
checks.py      an export checked against the run's SavedModel before it replaces anything
run.py         `export_run`: one format of a run, written, checked, then put in place
packaged.py    the shipped models copied into the package (what a wheel carries)
"""

from captcha_keras.export.folding import fold_batch_norms
from captcha_keras.export.savedmodel import export_savedmodel
from captcha_keras.export.savedmodel import reexport_run

__all__ = ["export_savedmodel", "fold_batch_norms", "reexport_run"]
