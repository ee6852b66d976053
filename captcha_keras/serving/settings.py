"""How the service runs: where its models are, its limits, batching and access."""

import dataclasses
import ipaddress

from captcha_keras.images import READ_FORMATS

API_KEY_ENV = "CAPTCHA_KERAS_API_KEY"
API_KEY_HEADER = "X-API-Key"


@dataclasses.dataclass
class ServeSettings:
    """Settings of one service; `scripts/serve.py`'s flags carry the same names.

    Args:
        host: str. Address to bind. Defaults to 127.0.0.1 (this machine only).
        port: int. Defaults to 8000.
        models_dir: str or None. Folder of trained runs; None (the default):
            the shipped models, the clone's `saved_models/` (where your runs
            land) and the package's, as `Reader` finds them.
        models: list of str or None. Run names in `models_dir` to load;
            None loads every run there.
        default_model: str or None. The model of requests that name none;
            None: `ctc_default` if loaded, else the first name.
        max_request_bytes: int. Larger bodies get 413, enforced while the
            body is read. Defaults to 8 MiB.
        max_images: int. Images per request. Defaults to 64.
        max_pixels: int. Pixels per image, checked before decoding.
            Defaults to 4,000,000 (2000 x 2000).
        formats: tuple of str. Accepted image formats (Pillow names).
        workers: int. Threads that decode images and run the models. Defaults to 2.
        max_batch: int. Images one model forward pass takes at most. Defaults to 64.
        max_pending: int. Images waiting for a model before requests get
            503. Defaults to 1024.
        api_key: str or None. Required in the `X-API-Key` header when set.
        cors_origins: list of str. Origins allowed by CORS; empty: CORS off.
        decoder: str. CTC decoding, `"greedy"` or `"beam_search"`.
        format: str or None. The runs' format to read with (`runs.FORMATS`);
            None: each run's SavedModel, else its first export.
        label_dir: str or None. A folder of unlabelled images to label on the page.
        label_model: str or None. The model that pre-fills the labels; None: the default.
        label_runs_dir: str or None. Where "Train now" writes its runs and logs;
            None: `label_dir/.captcha_keras_runs` (not an image of the folder).
        label_train_minutes: float. `--max-minutes` of a "Train now" fine-tune. Defaults to 5.
        label_train_flags: list of str. More flags of the trainer (`train_ctc.py`'s),
            after the service's own, so they win. Defaults to none.
        label_min_labels: int. Labels "Train now" needs before it starts. Defaults to 10.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    models_dir: str = None
    models: list = None
    default_model: str = None
    max_request_bytes: int = 8 * 1024 * 1024
    max_images: int = 64
    max_pixels: int = 4_000_000
    formats: tuple = READ_FORMATS
    workers: int = 2
    max_batch: int = 64
    max_pending: int = 1024
    api_key: str = None
    cors_origins: list = dataclasses.field(default_factory=list)
    decoder: str = "greedy"
    format: str = None
    label_dir: str = None
    label_model: str = None
    label_runs_dir: str = None
    label_train_minutes: float = 5.0
    label_train_flags: list = dataclasses.field(default_factory=list)
    label_min_labels: int = 10

    def __post_init__(self):
        for name in (
            "max_request_bytes",
            "max_images",
            "max_pixels",
            "workers",
            "max_batch",
            "max_pending",
            "label_min_labels",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
        if self.max_pending < self.max_images:
            raise ValueError(
                f"max_pending ({self.max_pending}) must be at least max_images ({self.max_images}): "
                "a request of the largest allowed size would always be refused as busy."
            )
        minutes = self.label_train_minutes
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 0 < minutes < float("inf"):
            raise ValueError(
                f"label_train_minutes must be a positive number. Received: label_train_minutes={minutes!r}"
            )
        if not 0 <= self.port <= 65535:
            raise ValueError(f"port must be in 0-65535. Received: port={self.port}")

    @property
    def loopback(self):
        """Whether `host` is reachable from this machine only."""
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False
