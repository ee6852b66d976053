"""The input size of a folder run, chosen from its images: the table, and its error rows."""

import pytest
from helpers import run_script

from captcha_keras.training.geometry import check_time_steps
from captcha_keras.training.geometry import choose_geometry
from captcha_keras.training.geometry import steps_needed


@pytest.mark.parametrize("label, steps", [("AB12", 4), ("AA", 3), ("7777", 7), ("A", 1), ("ABBA", 5)])
def test_steps_needed(label, steps):
    assert steps_needed(label) == steps


@pytest.mark.parametrize(
    "sizes, labels, family, given, expected",
    [
        ([(200, 70)] * 5, ["ABCDEF"], "ctc", (None, None), (192, 64)),  # amazon-captcha: 2.86:1 kept
        ([(72, 24)] * 5, ["AB12"], "ctc", (None, None), (96, 32)),  # really-simple-captcha: 3:1
        ([(128, 64)] * 5, ["AB12"], "ctc", (None, None), (128, 64)),  # the synthetic default
        ([(240, 80), (250, 80), (230, 80)], ["1234"], "ctc", (None, None), (192, 64)),
        ([(40, 40)] * 3, ["AABBCCDD"], "ctc", (None, None), (96, 32)),  # square, 12 steps needed: widened
        ([(40, 40)] * 3, ["AABBCCDD"], "multihead", (None, None), (32, 32)),  # no time steps to widen for
        ([(600, 50)] * 3, ["ABCD"], "ctc", (None, None), (768, 64)),  # long thin images stay long
        ([(200, 70)] * 5, ["ABCDEF"], "ctc", (None, 32), (96, 32)),  # a given height, the width follows
        ([(200, 70)] * 5, ["ABCDEF"], "ctc", (256, None), (256, 64)),  # a given width is kept
        ([], ["AB12"], "ctc", (None, None), (128, 64)),  # no size read: the synthetic shape
    ],
)
def test_choose_geometry(sizes, labels, family, given, expected):
    width, height, reasons = choose_geometry(sizes, labels, family, *given)
    assert (width, height) == expected
    assert all(isinstance(r, str) and r for r in reasons)


@pytest.mark.parametrize("width, labels", [(32, ["ABCDE"]), (48, ["AAAA"]), (64, ["77777"])])
def test_a_given_width_with_too_few_time_steps_is_a_clear_error(width, labels):
    with pytest.raises(ValueError, match=r"--width \d+ gives \d+ CTC time steps.*Use --width"):
        check_time_steps(width, labels)
    with pytest.raises(ValueError, match="needs"):
        choose_geometry([(100, 40)], labels, "ctc", width, None)


def test_a_folder_run_says_what_size_it_chose_and_why(tmp_path, capsys):
    from PIL import Image

    from captcha_keras.training.config import TrainConfig
    from captcha_keras.training.inputs import resolve_inputs

    data = tmp_path / "data"
    data.mkdir()
    for i, label in enumerate(["ABCDEF", "GHJKLM", "NPRTUX", "YABCEF", "GHJKLN"]):
        Image.new("L", (200, 70), 255).save(data / f"{label}.png")
    # What train_ctc.py settles before it trains (the training itself is tested elsewhere).
    config = TrainConfig(data=str(data), init_from="none", run_name="g", output_dir=str(tmp_path / "m"))
    resolve_inputs(config)
    out = capsys.readouterr().out
    assert "Input 192x64" in out and "aspect ratio 2.86" in out
    assert (config.width, config.height) == (192, 64) and config.run_config().width == 192
    refused = run_script(
        "train_ctc.py",
        "--data",
        data,
        "--width",
        "32",
        "--run-name",
        "h",
        "--output-dir",
        tmp_path / "m",
        "--logs-dir",
        tmp_path / "l",
        check=False,
    )
    assert refused.returncode == 2 and "CTC time steps" in refused.stderr and not (tmp_path / "m" / "h").exists()
