"""Shared fixtures: tiny real runs trained once per session through the real scripts; the markers they set.

Plain helpers (paths, `run_script`, the server) are in helpers.py, imported by name from there.
"""

import pytest
from helpers import noise
from helpers import save
from helpers import train_tiny

# A test that uses one of these trained a model for it (or shares a run trained for another).
TRAINING_FIXTURES = {"ctc_run", "cnn_run", "folder_run"}


def pytest_collection_modifyitems(config, items):
    """Marks every test that needs a tiny training run `train`, so that `-m "not train"` leaves them out."""
    for item in items:
        if TRAINING_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.train)


@pytest.fixture(scope="session")
def ctc_run(tmp_path_factory):
    """A tiny CTC run with variable-length labels: `(run_dir, log_dir)`."""
    return train_tiny(tmp_path_factory.mktemp("ctc"), "train_ctc.py", "tiny_ctc", "--length", "2-3")


@pytest.fixture(scope="session")
def cnn_run(tmp_path_factory):
    """A tiny multi-head run trained from a cached pool: `(run_dir, log_dir)`."""
    # From a refreshed pool, so the cached stream runs through a real fit too.
    return train_tiny(tmp_path_factory.mktemp("cnn"), "train_cnn.py", "tiny_cnn", "--length", "3", "--cache-size", "64")


@pytest.fixture
def known_folder(tmp_path):
    """Four good images of known labels, sizes and modes, and one file that is not an image."""
    folder = tmp_path / "known"
    save(folder, "AB12.png", noise(1))
    save(folder, "AB12_1.png", noise(2))
    save(folder, "C3.png", noise(3, (40, 20), "RGB"))
    save(folder, "DEF45.png", noise(4))
    (folder / "x.png").write_text("not an image")
    return folder
