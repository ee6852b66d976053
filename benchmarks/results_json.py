"""The JSON files of benchmarks/results/: read, and written back merged, by the benchmark scripts."""

import json
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def load_results(path):
    """The results stored at `path`, or an empty dict."""
    if os.path.isfile(path):
        with open(path) as f:
            return json.load(f)
    return {}


def save_results(path, results):
    """Writes `results` to `path` (sorted keys, so that a diff shows what changed)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    print(f"wrote {os.path.relpath(path, ROOT)}")
