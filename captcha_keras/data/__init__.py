"""Data: synthetic captcha streams and labelled image folders."""

from captcha_keras.data.synthetic import SyntheticCaptchas
from captcha_keras.data.synthetic import render_captcha
from captcha_keras.data.targets import make_targets
