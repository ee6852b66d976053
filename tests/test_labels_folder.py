"""Labels from file names and labels files, and reading labelled folders with bad files in them."""

import os

import numpy as np
import pytest
from PIL import Image

from captcha_keras.data.folder import DataError
from captcha_keras.data.folder import read_folder
from captcha_keras.data.folder import scan_folder
from captcha_keras.data.folder import split_indices
from captcha_keras.data.labels import LabelError
from captcha_keras.data.labels import characters_outside
from captcha_keras.data.labels import find_labels_file
from captcha_keras.data.labels import label_from_name
from captcha_keras.data.labels import read_labels_file
from captcha_keras.data.labels import suspicious_labels

FIXTURE = os.path.join(os.path.dirname(__file__), "fixtures", "really_simple_captcha", "images")
FIXTURE_CHARSET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"


def write_png(path, seed=0, size=(72, 24), mode="L"):
    """A noisy PNG: noise keeps the compressed data long, so cutting it truncates pixels."""
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    pixels = np.random.default_rng(seed).integers(0, 256, shape, dtype="uint8")
    Image.fromarray(pixels).save(path)
    return pixels


@pytest.mark.parametrize(
    "name, label",
    [
        ("AB12.png", "AB12"),
        ("AB12_17.png", "AB12"),
        ("AB12.1.png", "AB12"),
        ("ab12.jpeg", "ab12"),
        ("AB12.PNG", "AB12"),
        ("1234.png", "1234"),  # digits alone are the label, not an index
        ("12_34.png", "12"),  # a trailing _<digits> is always an index
        ("A_B.png", "A_B"),  # an underscore before letters is part of the label
        ("AB12_.png", "AB12_"),
        ("x/y/AB12_3.png", "AB12"),
        ("113d_77b2c2f41ab8a8196ec3508e6f1171bd.jpg", "113d"),  # _<md5>: captcha_trainer's convention
        ("K7_550e8400-e29b-41d4-a716-446655440000.png", "K7"),  # _<uuid>
        ("AB_77b2c2f4.png", "AB_77b2c2f4"),  # 8 hex digits are too few to be taken for a hash
        ("deadbeefdeadbeef00.png", "deadbeefdeadbeef00"),  # no underscore: the whole stem
        (os.path.join("deep", "er", "7Q.jpg"), "7Q"),
    ],
)
def test_label_from_name(name, label):
    assert label_from_name(name) == label


@pytest.mark.parametrize("name", ["_3.png", ".3.png", " .png", "x/_12.png"])
def test_names_without_a_label_are_errors(name):
    with pytest.raises(LabelError, match="carries no label"):
        label_from_name(name)


@pytest.mark.parametrize(
    "labels, expected",
    [
        (["AB12", "CD34", "EF56"], {}),
        (
            ["AB12", "CD34", "77b2c2f41ab8a8196ec3508e6f1171bd"],
            {"hash-like": (1, ["77b2c2f41ab8a8196ec3508e6f1171bd"])},
        ),
        (["AB12"] * 9 + ["AB12CD34EF56"], {"longer than 2x the median length (4)": (1, ["AB12CD34EF56"])}),
        (["ABCDEF", "GHIJKLMN"], {}),
        ([], {}),
    ],
)
def test_suspicious_labels(labels, expected):
    assert suspicious_labels(labels) == expected


def test_a_bare_extension_is_not_a_label():
    with pytest.raises(LabelError):
        label_from_name(".png")


def test_a_labels_file_with_a_byte_order_mark_and_a_filename_header(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_bytes("filename,label\nx.png,AB12\n".encode("utf-8-sig"))
    assert read_labels_file(str(path)) == ({"x.png": "AB12"}, [])


def test_characters_outside():
    assert characters_outside("AB1A9x", "AB123") == "9x"
    assert characters_outside("AB12", "AB123") == ""


@pytest.mark.parametrize(
    "name, text",
    [
        ("labels.csv", "file,label\na.png,AB12\nb.png,CD34\n"),
        ("labels.csv", "a.png,AB12\nb.png,CD34\n"),
        ("labels.csv", "File , Label\r\na.png , AB12 \r\n\r\nb.png,CD34\r\n"),  # spaces, CRLF, blank line
        ("labels.tsv", "file\tlabel\na.png\tAB12\nb.png\tCD34\n"),
        ("labels.tsv", "a.png\tAB12\nb.png\tCD34\n"),
    ],
)
def test_labels_files_with_and_without_header(tmp_path, name, text):
    (tmp_path / name).write_text(text, newline="")
    assert find_labels_file(str(tmp_path)) == str(tmp_path / name)
    labels, problems = read_labels_file(str(tmp_path / name))
    assert labels == {"a.png": "AB12", "b.png": "CD34"} and problems == []


def test_labels_file_bad_and_duplicate_rows(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("file,label\na.png,AB12\nb.png\nc.png,CD,34\nd.png,\na.png,ZZ99\ne.png,EF56\n")
    labels, problems = read_labels_file(str(path))
    # The first row of a file listed twice wins; every bad row is reported with where it is.
    assert labels == {"a.png": "AB12", "e.png": "EF56"}
    assert problems == [
        ("labels.csv line 3", "expected 2 columns (file, label), found 1"),
        ("labels.csv line 4", "expected 2 columns (file, label), found 3"),
        ("d.png", "empty label"),
        ("a.png", "listed twice (labels.csv line 6)"),
    ]


def test_a_labels_file_replaces_file_name_labels_and_reports_missing_files(tmp_path):
    write_png(tmp_path / "img1.png", 1)
    (tmp_path / "sub").mkdir()
    write_png(tmp_path / "sub" / "img2.png", 2)
    write_png(tmp_path / "ZZZZ.png", 3)  # not listed: the labels file decides, and the file is reported
    (tmp_path / "labels.tsv").write_text("img1.png\tAB12\nsub/img2.png\tCD34\ngone.png\tEF56\n")
    scan = scan_folder(str(tmp_path))
    assert scan.files == ["img1.png", "sub/img2.png"] and scan.labels == ["AB12", "CD34"]
    assert scan.problems == [
        ("gone.png", "listed in labels.tsv but not found"),
        ("ZZZZ.png", "not listed in labels.tsv"),
    ]
    data = read_folder(str(tmp_path), 72, 24, 1, progress=None)
    assert data.texts == ["AB12", "CD34"] and data.images.shape == (2, 24, 72, 1)


@pytest.fixture
def messy_folder(tmp_path):
    """Two good images and one file of each kind of bad: `(folder, {bad file: reason fragment})`."""
    good = write_png(tmp_path / "AB12.png", 1)
    write_png(tmp_path / "AB12_2.png", 2)
    (tmp_path / "x.png").write_text("not an image at all")
    noisy = tmp_path / "noise.png"
    write_png(noisy, 3)
    (tmp_path / "CD34.png").write_bytes(noisy.read_bytes()[: noisy.stat().st_size // 2])
    noisy.unlink()
    (tmp_path / "EF56.png").write_bytes(b"")
    write_png(tmp_path / "AZ99.png", 4)
    write_png(tmp_path / "_3.png", 5)
    (tmp_path / "notes.txt").write_text("not an image extension: ignored, not reported")
    bad = {
        "x.png": "not an image",
        "CD34.png": "truncated",
        "EF56.png": "not an image",
        "AZ99.png": "outside the charset",
        "_3.png": "no label",
    }
    return tmp_path, good, bad


MESSY_CHARSET = "0123456789ABCDEFx"


def test_read_folder_skips_and_reports_each_bad_file(messy_folder):
    folder, good, bad = messy_folder
    data = read_folder(str(folder), 72, 24, 1, charset=MESSY_CHARSET, progress=None)
    assert data.files == ["AB12.png", "AB12_2.png"] and data.texts == ["AB12", "AB12"]
    np.testing.assert_array_equal(data.images[0, ..., 0], good)
    reasons = dict(data.problems)
    assert sorted(reasons) == sorted(bad)
    for file, fragment in bad.items():
        assert fragment in reasons[file], (file, reasons[file])
    assert "5 skipped" in data.summary()


def test_scan_folder_checks_labels_but_decodes_nothing(messy_folder):
    folder, _, _ = messy_folder
    scan = scan_folder(str(folder), charset=MESSY_CHARSET)
    # Bad pixels are only found by decoding; the scan only sees names.
    assert scan.files == ["AB12.png", "AB12_2.png", "CD34.png", "EF56.png", "x.png"]
    assert dict(scan.problems).keys() == {"AZ99.png", "_3.png"}
    assert scan.charset == "123456ABCDEFx"


def test_strict_read_names_every_bad_file(messy_folder):
    folder, _, bad = messy_folder
    with pytest.raises(DataError, match="--strict") as error:
        read_folder(str(folder), 72, 24, 1, charset=MESSY_CHARSET, strict=True, progress=None)
    for file in bad:
        assert file in str(error.value)


def test_empty_missing_and_all_bad_folders_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no usable labelled image"):
        read_folder(str(tmp_path), 72, 24, 1, progress=None)
    with pytest.raises(FileNotFoundError, match="no such folder"):
        read_folder(str(tmp_path / "missing"), 72, 24, 1, progress=None)
    (tmp_path / "AB12.png").write_text("text")
    with pytest.raises(DataError, match="AB12.png: not an image"):
        read_folder(str(tmp_path), 72, 24, 1, progress=None)


def test_split_indices_is_seeded_and_disjoint():
    kept, held = split_indices(100, 0.2, seed=3)
    assert (kept, held) == split_indices(100, 0.2, seed=3)
    assert held != split_indices(100, 0.2, seed=4)[1]
    assert len(held) == 20 and not set(kept) & set(held)
    assert sorted(kept + held) == list(range(100))
    assert kept == sorted(kept) and held == sorted(held)


@pytest.mark.parametrize("count, fraction, held", [(10, 0.01, 1), (2, 0.9, 1), (1, 0.2, 0), (10, 0.0, 0)])
def test_split_indices_keeps_both_parts_when_it_can(count, fraction, held):
    kept, held_out = split_indices(count, fraction, seed=0)
    assert len(held_out) == held and len(kept) == count - held


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_split_indices_rejects_bad_fractions(fraction):
    with pytest.raises(ValueError, match="Received"):
        split_indices(10, fraction, seed=0)


def test_real_fixture_reads_completely():
    data = read_folder(FIXTURE, 72, 24, 1, charset=FIXTURE_CHARSET, progress=None)
    assert len(data.files) == 300 and data.problems == []
    assert data.images.shape == (300, 24, 72, 1) and data.images.dtype == np.uint8
    assert data.charset == FIXTURE_CHARSET
    assert all(len(text) == 4 for text in data.texts)
    assert data.texts == [os.path.splitext(f)[0] for f in data.files]
    # The images are stored at the model size: reading them changes no pixel.
    with Image.open(os.path.join(FIXTURE, data.files[0])) as image:
        assert image.mode == "L" and image.size == (72, 24)
        np.testing.assert_array_equal(data.images[0, ..., 0], np.asarray(image))


def test_real_fixture_with_a_narrower_charset_skips_labels_by_name():
    data = read_folder(FIXTURE, 72, 24, 1, charset=FIXTURE_CHARSET.replace("Z", ""), progress=None)
    skipped = [file for file, _ in data.problems]
    assert skipped and all("Z" in file for file in skipped)
    assert len(data.files) + len(skipped) == 300 and not any("Z" in t for t in data.texts)


def test_a_folder_of_label_underscore_md5_names_reads_the_labels(tmp_path):
    import hashlib

    for i, label in enumerate(["AB12", "CD34", "EF56"]):
        write_png(tmp_path / f"{label}_{hashlib.md5(str(i).encode()).hexdigest()}.png", i)
    scan = scan_folder(str(tmp_path))
    assert sorted(scan.labels) == ["AB12", "CD34", "EF56"] and not scan.problems


def test_hash_named_files_are_reported_before_training(capsys):
    from captcha_keras.training.inputs import warn_about_labels

    warn_about_labels(["AB12", "CD34", "77b2c2f41ab8a8196ec3508e6f1171bd"])
    out = capsys.readouterr().out
    assert out.startswith("warning: 1 label(s) look wrong (hash-like)") and "LABEL_<md5 or uuid>" in out
    warn_about_labels(["AB12", "CD34"])
    assert capsys.readouterr().out == ""
