"""ddddocr and our models on the same held-out real captchas, in one run: accuracy and images/s.

    .venv/bin/pip install ddddocr         # for this benchmark only; not a dependency of the project
    .venv/bin/python benchmarks/peers.py \
        --set really-simple-captcha data/rsc/test saved_models/really_simple_captcha \
        --set amazon-captcha data/amazon_8020/test saved_models/amazon_8020

Each `--set NAME FOLDER RUN` scores ddddocr's `classification` (out of the
box, its default model; texts compared case-insensitively, as its model
reads lower case) and `Reader(RUN)` on every image of FOLDER, labelled by
file name or labels.csv as training reads them. Both read the same encoded
files one at a time and in order, in this process, timed the same way.
Prints a table and writes benchmarks/results/peers-<date>.json.
"""

import argparse
import datetime
import json
import os
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--set",
        dest="sets",
        nargs=3,
        action="append",
        required=True,
        metavar=("NAME", "FOLDER", "RUN"),
        help="a held-out labelled folder and the run of ours that reads it",
    )
    p.add_argument("--limit", type=int, help="score at most this many images of each folder")
    p.add_argument("--out-dir", default=os.path.join(ROOT, "benchmarks", "results"), help="where the JSON goes")
    return p.parse_args(argv)


def labelled_files(folder, limit=None):
    """`(paths, labels)` of a labelled folder, as training reads it (file names or labels.csv)."""
    from captcha_keras.data.folder import scan_folder

    scan = scan_folder(folder)
    files, labels = (scan.files[:limit], scan.labels[:limit]) if limit else (scan.files, scan.labels)
    return [os.path.join(folder, name) for name in files], labels


def score(read, blobs, labels, fold_case=False):
    started = time.perf_counter()
    texts = [read(blob) for blob in blobs]
    seconds = time.perf_counter() - started
    if fold_case:
        texts, labels = [t.upper() for t in texts], [t.upper() for t in labels]
    right = sum(t == label for t, label in zip(texts, labels))
    return {"accuracy": right / len(labels), "images_per_s": len(labels) / seconds, "samples": len(labels)}


def main(argv=None):
    args = parse_args(argv)
    try:
        import ddddocr
    except ImportError:
        raise SystemExit("error: this benchmark needs ddddocr: .venv/bin/pip install ddddocr") from None
    from captcha_keras import Reader

    ocr = ddddocr.DdddOcr(show_ad=False)
    results = []
    for name, folder, run in args.sets:
        paths, labels = labelled_files(folder, args.limit)
        blobs = []
        for path in paths:
            with open(path, "rb") as f:
                blobs.append(f.read())
        reader = Reader(run)
        reader.read(blobs[0])  # warm-up: traces the model
        ours = score(lambda blob: reader.read(blob).text, blobs, labels)
        peer = score(ocr.classification, blobs, labels, fold_case=True)
        results.append({"set": name, "folder": folder, "run": run, "ours": ours, "ddddocr": peer})
        print(
            f"{name}: {len(labels)} images; ours ({run}) {ours['accuracy']:.2%} at {ours['images_per_s']:.0f} "
            f"img/s; ddddocr {peer['accuracy']:.2%} at {peer['images_per_s']:.0f} img/s"
        )
    print("\n| set | images | ours | ours img/s | ddddocr | ddddocr img/s |\n|---|---:|---:|---:|---:|---:|")
    for r in results:
        print(
            f"| {r['set']} | {r['ours']['samples']} | {r['ours']['accuracy']:.2%} | {r['ours']['images_per_s']:.0f} "
            f"| {r['ddddocr']['accuracy']:.2%} | {r['ddddocr']['images_per_s']:.0f} |"
        )
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(args.out_dir, f"peers-{datetime.date.today()}.json")
    with open(path, "w") as f:
        json.dump(
            {
                "date": str(datetime.date.today()),
                "cores": os.cpu_count(),
                "ddddocr": getattr(ddddocr, "__version__", "1.6.1"),
                "results": results,
            },
            f,
            indent=2,
        )
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
