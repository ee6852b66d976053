"""captcha-keras: train, evaluate, export and serve captcha recognizers with Keras 3."""

from captcha_keras import quiet

# Before anything of ours imports Keras, and with it TensorFlow: a CPU
# machine's terminal then starts with the project's own first line.
quiet.install_hook()

__version__ = "0.1.0"


def __getattr__(name):
    # `from captcha_keras import Reader` loads the reader (and NumPy, Pillow)
    # only when asked for, so that the dataset tools start at once.
    if name == "Reader":
        from captcha_keras.inference.reader import Reader

        return Reader
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
