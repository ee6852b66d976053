"""What a trained run is: architecture, charset and input size, as `config.json`."""

import dataclasses
import json
import os

from captcha_keras.charset import Charset

CONFIG_FILE = "config.json"
# The models that ship with the project, beside the package in a clone.
SHIPPED_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "saved_models")


@dataclasses.dataclass
class RunConfig:
    """Everything needed to feed a trained model and read its outputs.

    Args:
        arch: str. Registry name of the architecture.
        family: str. `"ctc"` or `"multihead"`.
        charset: str. The literal characters, in output order.
        width: int. Input width in pixels.
        height: int. Input height in pixels.
        min_length: int. Shortest label the model was trained on.
        max_length: int. Longest label (multi-head: the number of heads).
        channels: int. 1 (grayscale) or 3 (RGB).
        keep_aspect: bool. Pad images to the input's aspect ratio before
            resizing them (folder data); False stretches them.
        style: str. The synthetic style it trained on (`styles.STYLE_CHOICES`):
            what its synthetic test captchas are drawn in.
    """

    arch: str
    family: str
    charset: str
    width: int = 128
    height: int = 64
    min_length: int = 4
    max_length: int = 4
    channels: int = 3
    keep_aspect: bool = False
    style: str = "captcha"

    @property
    def grayscale(self):
        return self.channels == 1

    @property
    def length(self):
        """The label length as `generate.py`/`--length` spell it: `4` or `4-6`."""
        if self.min_length == self.max_length:
            return str(self.min_length)
        return f"{self.min_length}-{self.max_length}"

    def make_charset(self):
        return Charset(self.charset)

    def to_dict(self):
        return dataclasses.asdict(self)

    def save(self, run_dir):
        """Writes `config.json` into `run_dir`."""
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, CONFIG_FILE), "w") as f:
            json.dump(self.to_dict(), f, indent=2)

    @classmethod
    def load(cls, run_dir):
        """Reads `config.json` from a run folder, with a clear error if it is missing."""
        path = os.path.join(run_dir, CONFIG_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(
                f"{run_dir!r} is not a trained run: it has no {CONFIG_FILE}. "
                "Pass a folder written by scripts/train_ctc.py or scripts/train_cnn.py."
            )
        with open(path) as f:
            values = json.load(f)
        fields = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in fields})
