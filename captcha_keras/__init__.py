"""captcha-keras: train, evaluate, export and serve captcha recognizers with Keras 3."""

from captcha_keras import quiet

# Before anything of ours imports Keras, and with it TensorFlow: a CPU
# machine's terminal then starts with the project's own first line.
quiet.install_hook()

__version__ = "0.1.0"
