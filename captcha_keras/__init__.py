"""captcha-keras: train, evaluate, export and serve captcha recognizers with Keras 3."""

import os

# TensorFlow's C++ start-up chatter (CUDA probing on CPU machines, oneDNN
# notices) buries the messages users need; keep warnings and errors.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"
