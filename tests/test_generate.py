"""captcha_keras.data.generate and generate.py: labelled synthetic folders, a function of their seed."""

import os
import re

import pytest
from helpers import run_script
from helpers import snapshot
from PIL import Image

from captcha_keras.data.generate import generate_folder
from captcha_keras.data.labels import label_from_name


def generate(out, **kwargs):
    settings = dict(
        count=40,
        charset="digits",
        width=64,
        height=32,
        length="3-5",
        seed=5,
        grayscale=True,
        workers=2,
        batch_size=8,
        progress=False,
    )
    settings.update(kwargs)
    return generate_folder(str(out), **settings)


def test_generate_writes_labelled_images_of_the_requested_shape(tmp_path):
    result = generate(tmp_path / "a")
    names = sorted(os.listdir(tmp_path / "a"))
    assert result.count == 40 and len(names) == 40 and result.rate > 0
    assert sorted(int(re.fullmatch(r"\d+_(\d\d)\.png", n).group(1)) for n in names) == list(range(40))
    for name in names:
        label = label_from_name(name)
        assert 3 <= len(label) <= 5 and label.isdigit(), name
    with Image.open(tmp_path / "a" / names[0]) as image:
        assert image.size == (64, 32) and image.mode == "L"
    assert re.fullmatch(r"wrote 40 captchas to .* in [\d.]+ s \([\d,]+ images/s\)", result.summary())


def test_generate_is_a_function_of_the_seed_not_of_the_workers(tmp_path):
    generate(tmp_path / "a")
    generate(tmp_path / "b", workers=1)
    generate(tmp_path / "c", seed=6)
    a, b, c = (snapshot(tmp_path / name) for name in "abc")
    assert a == b
    assert set(a) != set(c)


def test_generate_refuses_a_folder_with_images_unless_forced(tmp_path):
    generate(tmp_path, count=3)
    with pytest.raises(FileExistsError, match="already holds 3 images"):
        generate(tmp_path, count=3)
    generate(tmp_path, count=3, force=True)
    assert len(os.listdir(tmp_path)) == 3


@pytest.mark.parametrize("kwargs", [dict(count=0), dict(charset="AB/"), dict(charset="A B"), dict(length="0-2")])
def test_generate_rejects_bad_arguments(tmp_path, kwargs):
    with pytest.raises(ValueError):
        generate(tmp_path, **kwargs)
    assert not os.listdir(tmp_path)


def test_generate_script_writes_what_the_function_writes(tmp_path):
    args = dict(count=12, charset="digits", width=64, height=32, length=4, seed=3, grayscale=False)
    generate_folder(str(tmp_path / "function"), workers=1, progress=False, **args)
    result = run_script(
        "generate.py",
        "--out",
        tmp_path / "script",
        "--count",
        12,
        "--charset",
        "digits",
        "--width",
        64,
        "--height",
        32,
        "--seed",
        3,
        "--workers",
        2,
    )
    assert re.search(r"wrote 12 captchas to .*script in [\d.]+ s", result.stdout)
    assert snapshot(tmp_path / "script") == snapshot(tmp_path / "function")
    with Image.open(next((tmp_path / "script").iterdir())) as image:
        assert image.mode == "RGB"
