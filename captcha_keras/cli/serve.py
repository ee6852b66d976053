"""Serve trained models over HTTP: POST /predict, GET /models, /health, the OpenAPI page at /docs.

    python scripts/serve.py                                  # the shipped models and saved_models/, on 127.0.0.1:8000
    python scripts/serve.py --model ctc_default --port 8080
    python scripts/serve.py --host 0.0.0.0 --api-key SECRET  # beyond this machine: a key is required
    python scripts/serve.py --label-dir data/mine            # label your own captchas at http://127.0.0.1:8000/
    python scripts/serve.py --label-dir data/mine --label-train-minutes 10   # "Train now" trains 10 minutes

    curl -F files=@captcha.png http://127.0.0.1:8000/predict

The page is at /, the OpenAPI description at /docs.
"""

import argparse
import logging
import os
import shlex
import sys

from captcha_keras.cli.flags import HelpFormatter
from captcha_keras.cli.flags import fail


def parse_args(argv=None):
    from captcha_keras.runs import FORMATS
    from captcha_keras.serving.settings import API_KEY_ENV
    from captcha_keras.serving.settings import ServeSettings

    d = ServeSettings
    p = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    p.add_argument("--host", default=d.host, help="address to bind; 127.0.0.1 serves this machine only")
    p.add_argument("--port", type=int, default=d.port, help="port to listen on (0: any free port)")
    p.add_argument(
        "--models-dir",
        default=d.models_dir,
        help="folder of trained runs (default: the shipped models, saved_models/ of a clone and the package's)",
    )
    p.add_argument(
        "--model",
        dest="models",
        nargs="+",
        metavar="NAME",
        help="runs of --models-dir to load (default: every run there)",
    )
    p.add_argument("--default-model", help="model of requests that name none (default: ctc_default, else the first)")
    p.add_argument("--max-request-bytes", type=int, default=d.max_request_bytes, help="larger requests get 413")
    p.add_argument("--max-images", type=int, default=d.max_images, help="images per request")
    p.add_argument(
        "--max-pixels", type=int, default=d.max_pixels, help="pixels per image, checked before it is decoded"
    )
    p.add_argument("--workers", type=int, default=d.workers, help="threads decoding images and running the models")
    p.add_argument("--max-batch", type=int, default=d.max_batch, help="images one forward pass takes at most")
    p.add_argument("--max-pending", type=int, default=d.max_pending, help="images waiting before requests get 503")
    p.add_argument(
        "--format",
        default=d.format,
        choices=sorted(FORMATS),
        help="the runs' format to read with (default: each run's SavedModel, else its first export); "
        "onnx and litert* need no TensorFlow",
    )
    p.add_argument("--decoder", default=d.decoder, choices=("greedy", "beam_search"), help="CTC decoding")
    p.add_argument(
        "--api-key",
        default=os.environ.get(API_KEY_ENV),
        help=f"require this key in the X-API-Key header (or set {API_KEY_ENV}); needed beyond loopback",
    )
    p.add_argument(
        "--no-api-key",
        action="store_true",
        help="serve beyond loopback without a key (anyone who reaches the port can use it)",
    )
    p.add_argument(
        "--label-dir", help="a folder of unlabelled captchas to label on the page (labels go to DIR/labels.csv)"
    )
    p.add_argument("--label-model", help="the model whose readings pre-fill the labels (default: the default model)")
    p.add_argument(
        "--label-runs-dir",
        default=d.label_runs_dir,
        help="where the page's Train now writes its runs and logs (default: DIR/.captcha_keras_runs)",
    )
    p.add_argument(
        "--label-train-minutes",
        type=float,
        default=d.label_train_minutes,
        help="--max-minutes of a Train now fine-tune",
    )
    p.add_argument(
        "--label-train-flags",
        type=shlex.split,
        default=[],
        metavar="'FLAGS'",
        help="more flags of the trainer for Train now, in one quoted string after '=': "
        "--label-train-flags='--steps 20 --batch-size 32' (default: none)",
    )
    p.add_argument(
        "--label-min-labels",
        type=int,
        default=d.label_min_labels,
        help="labels Train now needs before it starts",
    )
    p.add_argument(
        "--cors-origin",
        dest="cors_origins",
        nargs="+",
        default=[],
        metavar="ORIGIN",
        help="allow browsers on these origins to call the API (CORS is off without it)",
    )
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from captcha_keras.serving.settings import ServeSettings

    values = {k: v for k, v in vars(args).items() if k != "no_api_key"}
    from captcha_keras.serving.app import create_app

    try:
        settings = ServeSettings(**values)
        if not settings.loopback and not settings.api_key and not args.no_api_key:
            fail(
                f"--host {settings.host} serves beyond this machine: pass --api-key KEY (or set "
                "CAPTCHA_KERAS_API_KEY), or --no-api-key to serve without one."
            )
        # Before any model loads: a missing --label-dir or a bad labels.csv fails here.
        app = create_app(settings)
    except (ValueError, FileNotFoundError) as error:
        fail(error)
    serve(app, settings)
    return 0


def serve(app, settings):
    """Runs the app until interrupted."""
    import uvicorn

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    # python-multipart logs each malformed body it meets; the request's own line says enough.
    logging.getLogger("python_multipart").setLevel(logging.ERROR)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, access_log=False, log_level="warning", lifespan="on"
    )
    server = uvicorn.Server(config)
    server.run()
    if not server.started:
        raise SystemExit(1)
