"""pip install and read, measured: the wheel, a fresh venv with no TensorFlow, import and first reading; ddddocr beside.

    .venv/bin/python benchmarks/bench_wheel.py                 # after bash scripts/setup.sh
    .venv/bin/python benchmarks/bench_wheel.py --no-peer       # without installing ddddocr

Builds the wheel of this checkout (`python -m build --wheel`), installs it
into a fresh venv from the wheels setup.sh kept (`.venv/wheelhouse`), and
measures, from another folder:

- the wheel's size and the venv's site-packages (pip included);
- `from captcha_keras import Reader; Reader().read(png)` as a whole new
  process (interpreter start, import, loading the packaged model, first
  reading), best and median of --runs;
- that its texts equal the shipped SavedModel's on --samples fresh captchas
  of ctc_default's kind (the SavedModel read in this venv).

ddddocr (`pip install ddddocr` into a venv of its own, from the package
index) is measured the same way in the same run when it installs: its
wheel, its venv, and `DdddOcr(show_ad=False).classification(png)` as a new
process. Prints a table and writes benchmarks/results/wheel-<date>.json.
"""

import argparse
import datetime
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHEELHOUSE = os.path.join(sys.prefix, "wheelhouse")
# The targets of issue 31.
MAX_SITE_PACKAGES_MB = 200
MAX_FIRST_READ_S = 1.0

FIRST_READ = {
    "captcha-keras": "from captcha_keras import Reader; print(Reader().read({path!r}).text)",
    "ddddocr": "import ddddocr; print(ddddocr.DdddOcr(show_ad=False).classification(open({path!r}, 'rb').read()))",
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=7, help="new processes timed for the first reading")
    p.add_argument("--samples", type=int, default=500, help="fresh captchas whose texts are compared")
    p.add_argument("--no-peer", action="store_true", help="do not install and measure ddddocr")
    p.add_argument("--out-dir", default=os.path.join(ROOT, "benchmarks", "results"), help="where the JSON goes")
    return p.parse_args(argv)


def run(command, cwd=None):
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, check=True)


def folder_mb(path):
    total = sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)
    return total / 1e6


def site_packages(venv):
    (lib,) = [os.path.join(venv, "lib", d, "site-packages") for d in os.listdir(os.path.join(venv, "lib"))]
    return lib


def make_venv(folder, install):
    """A fresh venv in `folder` with `install` (pip arguments) installed; its python."""
    run([sys.executable, "-m", "venv", folder])
    python = os.path.join(folder, "bin", "python")
    run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *install])
    return python


def first_read_seconds(python, code, cwd, runs):
    """Wall seconds of a new process that imports, loads and reads once: each run's, and the text read."""
    times, text = [], None
    for _ in range(runs):
        started = time.perf_counter()
        text = run([python, "-c", code], cwd=cwd).stdout.strip().splitlines()[-1]
        times.append(time.perf_counter() - started)
    return times, text


def build_wheel(out):
    """The wheel, built from a copy of what it is made of (no earlier build's leftovers, nothing written here)."""
    source = os.path.join(out, "source")
    os.makedirs(source)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(os.path.join(ROOT, name), source)
    shutil.copytree(
        os.path.join(ROOT, "captcha_keras"),
        os.path.join(source, "captcha_keras"),
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    # --no-isolation: the build backend is this venv's setuptools, so no network is needed.
    run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", out, source], cwd=source)
    (name,) = [n for n in os.listdir(out) if n.endswith(".whl")]
    return os.path.join(out, name)


def fresh_captchas(folder, samples):
    """PNG files of fresh ctc_default captchas (seed 2718's test stream), and the SavedModel's texts of them."""
    from captcha_keras import Reader
    from captcha_keras.data.synthetic import draw_test_set
    from captcha_keras.export.checks import encode_png
    from captcha_keras.runs import SHIPPED_DIR

    reference = Reader(os.path.join(SHIPPED_DIR, "ctc_default"), format="savedmodel")
    images, labels = draw_test_set(reference.config, samples, seed=2718)
    paths = []
    for i, array in enumerate(images):
        paths.append(os.path.join(folder, f"{i}.png"))
        with open(paths[-1], "wb") as f:
            f.write(encode_png(array))
    return paths, labels, [r.text for r in reference.read_many(paths)]


def largest(lib, count=10):
    """The `count` biggest entries of a site-packages folder, in MB: where the size goes."""
    sizes = {}
    for entry in os.listdir(lib):
        path = os.path.join(lib, entry)
        sizes[entry] = folder_mb(path) if os.path.isdir(path) else os.path.getsize(path) / 1e6
    return {k: round(v, 1) for k, v in sorted(sizes.items(), key=lambda kv: -kv[1])[:count]}


def measure(name, python, wheel_bytes, cwd, path, runs):
    times, text = first_read_seconds(python, FIRST_READ[name].format(path=path), cwd, runs)
    lib = site_packages(os.path.dirname(os.path.dirname(python)))
    return {
        "wheel_mb": round(wheel_bytes / 1e6, 2) if wheel_bytes else None,
        "site_packages_mb": round(folder_mb(lib), 1),
        "largest_mb": largest(lib),
        "first_read_s": {"best": round(min(times), 3), "median": round(statistics.median(times), 3)},
        "first_text": text,
    }


def main(argv=None):
    args = parse_args(argv)
    if not os.path.isdir(WHEELHOUSE):
        sys.exit(f"{WHEELHOUSE} is missing: run bash scripts/setup.sh first")
    work = tempfile.mkdtemp(prefix="bench-wheel-")
    elsewhere = os.path.join(work, "elsewhere")
    os.makedirs(elsewhere)
    paths, labels, expected = fresh_captchas(elsewhere, args.samples)
    wheel = build_wheel(os.path.join(work, "dist"))
    ours = make_venv(os.path.join(work, "ours"), ["--no-index", "--find-links", WHEELHOUSE, wheel])
    result = {"date": datetime.date.today().isoformat(), "python": sys.version.split()[0], "runs": args.runs}
    result["captcha-keras"] = measure("captcha-keras", ours, os.path.getsize(wheel), elsewhere, paths[0], args.runs)
    code = (
        "import json, sys; from captcha_keras import Reader; r = Reader(); "
        "print(json.dumps([x.text for x in r.read_many(sys.argv[1:], batch_size=100)]))"
    )
    texts = json.loads(run([ours, "-c", code, *paths], cwd=elsewhere).stdout.strip().splitlines()[-1])
    result["captcha-keras"].update(
        texts_equal_savedmodel=sum(a == b for a, b in zip(texts, expected)),
        samples=len(paths),
        accuracy=sum(a == b for a, b in zip(texts, labels)) / len(labels),
    )
    if not args.no_peer:
        try:
            peer = make_venv(os.path.join(work, "ddddocr"), ["ddddocr"])
        except subprocess.CalledProcessError as error:
            result["ddddocr"] = {"error": f"pip install ddddocr failed: {error.stderr.strip()[-300:]}"}
        else:
            version = run([peer, "-c", "import importlib.metadata as m; print(m.version('ddddocr'))"]).stdout.strip()
            result["ddddocr"] = dict(measure("ddddocr", peer, None, elsewhere, paths[0], args.runs), version=version)
    ck = result["captcha-keras"]
    size, read_s, equal = ck["site_packages_mb"], ck["first_read_s"]["median"], ck["texts_equal_savedmodel"]
    result["targets"] = {
        "site_packages_mb": [size, MAX_SITE_PACKAGES_MB, size <= MAX_SITE_PACKAGES_MB],
        "first_read_s": [read_s, MAX_FIRST_READ_S, read_s <= MAX_FIRST_READ_S],
        "texts_equal": [equal, ck["samples"], equal == ck["samples"]],
    }
    print(f"{'':14} {'wheel MB':>9} {'venv MB':>8} {'first read s (best / median)':>29}")
    for name in ("captcha-keras", "ddddocr"):
        row = result.get(name)
        if row and "error" not in row:
            wheel_mb = "-" if row["wheel_mb"] is None else f"{row['wheel_mb']:.2f}"
            times = f"{row['first_read_s']['best']:.3f} / {row['first_read_s']['median']:.3f}"
            print(f"{name:14} {wheel_mb:>9} {row['site_packages_mb']:>8.1f} {times:>29}")
        elif row:
            print(f"{name:14} {row['error']}")
    print(
        f"texts equal to the SavedModel's: {ck['texts_equal_savedmodel']} of {ck['samples']}; "
        f"accuracy {ck['accuracy']:.2%}"
    )
    for target, (value, limit, met) in result["targets"].items():
        print(f"target {target}: {value} against {limit}: {'met' if met else 'MISSED'}")
    os.makedirs(args.out_dir, exist_ok=True)
    out = os.path.join(args.out_dir, f"wheel-{result['date']}.json")
    with open(out, "w") as f:
        json.dump(result, f, indent=2)
    print(f"wrote {out}")
    shutil.rmtree(work)  # three venvs, about 700 MB


if __name__ == "__main__":
    main()
