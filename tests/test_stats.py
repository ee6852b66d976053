"""captcha_keras.data.stats and `dataset.py stats`: the counts of a surveyed folder, as tables and JSON."""

import json
import re

from helpers import RSC_IMAGES
from helpers import run_script

from captcha_keras.data.stats import folder_stats
from captcha_keras.data.stats import format_stats
from captcha_keras.data.survey import survey_folder


def test_stats_of_a_known_folder(known_folder):
    stats = folder_stats(survey_folder(str(known_folder)))
    assert stats["images"] == 4 and stats["unique_labels"] == 3 and stats["labels_file"] is None
    assert stats["skipped"] == [{"file": "x.png", "reason": "not an image Pillow can read."}]
    assert stats["label_lengths"] == {2: 1, 4: 2, 5: 1}
    assert stats["characters"] == {
        "1": 2,
        "2": 2,
        "3": 1,
        "4": 1,
        "5": 1,
        "A": 2,
        "B": 2,
        "C": 1,
        "D": 1,
        "E": 1,
        "F": 1,
    }
    assert list(stats["characters"]) == sorted(stats["characters"])
    assert stats["sizes"] == {"72x24": 3, "40x20": 1} and stats["modes"] == {"L": 3, "RGB": 1}
    text = format_stats(stats)
    assert "labelled images: 4 (3 distinct labels)" in text and "x.png" in text


def test_stats_script_prints_tables_and_writes_json(tmp_path):
    out = tmp_path / "stats.json"
    result = run_script("dataset.py", "stats", RSC_IMAGES, "--json", out)
    stats = json.loads(out.read_text())
    assert stats["images"] == 300 and stats["skipped"] == [] and stats["label_lengths"] == {"4": 300}
    assert stats["charset"] == "23456789ABCDEFGHJKLMNPQRSTUVWXYZ" and sum(stats["characters"].values()) == 1200
    assert stats["sizes"] == {"72x24": 300} and stats["modes"] == {"L": 300}
    assert "labelled images: 300" in result.stdout
    assert re.search(r"^72x24\s+300\s+100\.0%$", result.stdout, re.MULTILINE)


def test_strict_script_exits_2_and_names_the_bad_file(known_folder):
    result = run_script("dataset.py", "stats", known_folder, "--strict", check=False)
    assert result.returncode == 2
    assert "error: --strict: 1 bad file(s)" in result.stderr and "x.png: not an image" in result.stderr
    assert "Traceback" not in result.stderr
