"""Throughput and latency of the HTTP service against reading in-process, in one run.

    python benchmarks/bench_serve.py            # about 3 minutes on 2 cores
    python benchmarks/bench_serve.py --quick    # fewer requests

Starts the real server (scripts/serve.py) on a loopback port, runs 1, 16 and
64 concurrent clients (threads with keep-alive connections) sending 1 and 16
images a request for a bounded number of requests, and reads the same images
in this process with `Reader`. A second server with `--max-batch 1` shows
what batching concurrent requests together buys. If ddddocr is installed, its
`classification` reads the same images too. Prints a table and writes
benchmarks/results/serving-<date>.json.

Client and server share the machine's cores, so the HTTP figures include the
clients' own work: on 2 cores that is a real cost, reported as it is.
"""

import argparse
import concurrent.futures
import datetime
import http.client
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import time

import numpy as np
from PIL import Image

from captcha_keras import Reader
from captcha_keras.data.synthetic import SyntheticCaptchas
from captcha_keras.data.synthetic import draw_batches

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BOUNDARY = "bench-boundary"


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="fewer requests per setting")
    p.add_argument("--model", default="ctc_default", help="shipped model to serve")
    p.add_argument("--out-dir", default=os.path.join(ROOT, "benchmarks", "results"), help="where the JSON goes")
    return p.parse_args(argv)


def captcha_pngs(count, seed=777):
    """`count` fresh test captchas of the shipped models' kind, PNG-encoded, and their labels."""
    data = SyntheticCaptchas(
        charset="alnum_upper",
        batch_size=64,
        steps=-(-count // 64),
        seed=seed,
        stream="test",
        grayscale=True,
        family=None,
    )
    images, texts = draw_batches(data)
    pngs = []
    for image in images[:count]:
        buffer = io.BytesIO()
        Image.fromarray(image[..., 0]).save(buffer, "PNG")
        pngs.append(buffer.getvalue())
    return pngs, texts[:count]


def multipart(pngs):
    lines = []
    for i, data in enumerate(pngs):
        lines += [
            f"--{BOUNDARY}".encode(),
            f'Content-Disposition: form-data; name="files"; filename="{i}.png"'.encode(),
            b"",
            data,
        ]
    lines += [f"--{BOUNDARY}--".encode(), b""]
    return b"\r\n".join(lines)


def start_server(port, *flags):
    process = subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "scripts", "serve.py"), "--port", str(port), *flags],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/health")
            if connection.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.3)
    process.kill()
    raise SystemExit("the server did not start")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load(port, pngs, texts, clients, per_request, requests):
    """`requests` POSTs of `per_request` images from `clients` threads; images/s, latencies, errors, accuracy."""
    bodies = [multipart(pngs[(i * per_request) % len(pngs) :][:per_request]) for i in range(requests)]
    wanted = [[texts[((i * per_request) + k) % len(pngs)] for k in range(per_request)] for i in range(requests)]
    headers = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}
    latencies, errors, right, read = [], 0, 0, 0
    next_request = iter(range(requests))

    def client():
        nonlocal errors, right, read
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        for i in next_request:
            started = time.perf_counter()
            try:
                connection.request("POST", "/predict", bodies[i], headers)
                response = connection.getresponse()
                payload = response.read()
            except OSError:
                errors += 1
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                errors += 1
                continue
            got = [r.get("text") for r in json.loads(payload)["results"]]
            right += sum(g == w for g, w in zip(got, wanted[i]))
            read += len(got)

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(client) for _ in range(clients)]:
            future.result()
    seconds = time.perf_counter() - started
    q = np.percentile(latencies, [50, 95, 99]) if latencies else [float("nan")] * 3
    return {
        "clients": clients,
        "images_per_request": per_request,
        "requests": requests,
        "errors": errors,
        "images_per_s": round(read / seconds, 1),
        "p50_ms": round(float(q[0]), 2),
        "p95_ms": round(float(q[1]), 2),
        "p99_ms": round(float(q[2]), 2),
        "accuracy": round(right / max(read, 1), 4),
    }


def in_process(reader, pngs, batch_size, repeats=3):
    """Images/s of `Reader.read_many` on the same PNG bytes (decoding included), best of `repeats`."""
    best = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        reader.read_many(pngs, batch_size=batch_size)
        best = max(best, len(pngs) / (time.perf_counter() - started))
    return round(best, 1)


def single_latency(reader, pngs, count=100):
    times = []
    for data in pngs[:count]:
        started = time.perf_counter()
        reader.read(data)
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 2)


def ddddocr_figures(pngs, texts):
    try:
        import ddddocr
    except ImportError:
        return None
    ocr = ddddocr.DdddOcr(show_ad=False)
    started = time.perf_counter()
    got = [ocr.classification(data).upper() for data in pngs]
    seconds = time.perf_counter() - started
    return {
        "images_per_s": round(len(pngs) / seconds, 1),
        "accuracy": round(np.mean([g == t for g, t in zip(got, texts)]), 4),
    }


def main(argv=None):
    args = parse_args(argv)
    scale = 0.25 if args.quick else 1.0
    pngs, texts = captcha_pngs(512)
    reader = Reader(args.model)
    reader.read(pngs[0])
    figures = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "model": args.model,
        "cores": os.cpu_count(),
        "in_process": {},
    }
    for batch in (1, 16, 64):
        figures["in_process"][f"batch_{batch}_images_per_s"] = in_process(
            reader, pngs[: 128 if batch == 1 else 512], batch
        )
    figures["in_process"]["single_p50_ms"] = single_latency(reader, pngs)
    flags = ["--models-dir", os.path.join(ROOT, "saved_models"), "--model", args.model, "--max-pending", "100000"]
    port = free_port()
    server = start_server(port, *flags)
    try:
        runs = []
        for clients, per_request, requests in [
            (1, 1, 200),
            (16, 1, 400),
            (64, 1, 640),
            (1, 16, 40),
            (16, 16, 80),
            (64, 16, 128),
        ]:
            runs.append(load(port, pngs, texts, clients, per_request, max(int(requests * scale), clients)))
            print(runs[-1], flush=True)
        figures["http"] = runs
    finally:
        server.terminate()
        server.wait(30)
    port = free_port()
    server = start_server(port, *flags, "--max-batch", "1")
    try:
        figures["http_unbatched"] = [load(port, pngs, texts, 64, 1, max(int(640 * scale), 64))]
        print("max-batch 1:", figures["http_unbatched"][0], flush=True)
    finally:
        server.terminate()
        server.wait(30)
    figures["ddddocr"] = ddddocr_figures(pngs[:200], texts[:200])
    best16 = max(r["images_per_s"] for r in figures["http"] if r["images_per_request"] == 16)
    batched64 = next(r for r in figures["http"] if r["clients"] == 64 and r["images_per_request"] == 1)
    one = next(r for r in figures["http"] if r["clients"] == 1 and r["images_per_request"] == 1)
    figures["targets"] = {
        "errors_at_64_clients": sum(r["errors"] for r in figures["http"] if r["clients"] == 64),
        "http_16_per_request_vs_reader_batch_16": round(best16 / figures["in_process"]["batch_16_images_per_s"], 3),
        "one_image_one_client_p50_ms": one["p50_ms"],
        "batching_gain_64_clients_1_image": round(
            batched64["images_per_s"] / figures["http_unbatched"][0]["images_per_s"], 3
        ),
    }
    print_table(figures)
    os.makedirs(args.out_dir, exist_ok=True)
    path = os.path.join(
        args.out_dir, f"serving-{datetime.date.today().isoformat()}{'-quick' if args.quick else ''}.json"
    )
    with open(path, "w") as f:
        json.dump(figures, f, indent=2)
    print(f"wrote {path}")


def print_table(figures):
    print("| clients | images/request | requests | images/s | p50 ms | p95 ms | p99 ms | errors | accuracy |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in figures["http"] + [dict(figures["http_unbatched"][0], clients="64 (max-batch 1)")]:
        print(
            f"| {r['clients']} | {r['images_per_request']} | {r['requests']} | {r['images_per_s']} | {r['p50_ms']} | "
            f"{r['p95_ms']} | {r['p99_ms']} | {r['errors']} | {r['accuracy']:.2%} |"
        )
    print("in-process Reader:", figures["in_process"])
    if figures["ddddocr"]:
        print("ddddocr:", figures["ddddocr"])
    print("targets:", figures["targets"])


if __name__ == "__main__":
    main()
