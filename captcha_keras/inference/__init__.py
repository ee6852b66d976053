"""Reading captchas with a trained run: no training code, no model builders, no Keras (TensorFlow for a SavedModel).

    reader.py      `Reader`: the one way to read captchas, from a shipped model or any trained run
    readings.py    what a reading is: the text, its confidence, each character's alternatives, abstention
    calibration.py the temperature that makes a confidence the chance of being right, and its fit
    decoding.py    model outputs turned into texts: CTC (greedy, beam, length-bounded) and multi-head
    preprocess.py  any image a user has, as the model's input array
    runtimes.py    a run's model in any of its formats: SavedModel, ONNX, LiteRT

`from captcha_keras import Reader` is the way in; submodules are imported where
they are used, so that this package's __init__ loads nothing.
"""
