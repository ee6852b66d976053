"""The models a service reads with: `Reader`s loaded once, looked up by name, reloaded on request."""

import os
import threading

import numpy as np

from captcha_keras.inference.reader import Reader
from captcha_keras.runs import DEFAULT_MODEL
from captcha_keras.runs import find_run
from captcha_keras.runs import is_run
from captcha_keras.runs import shipped_runs
from captcha_keras.serving.errors import ApiError


class ModelRegistry:
    """The loaded models of a service.

    Args:
        models_dir: str or None. Folder of trained runs; None: the shipped
            models (`runs.shipped_runs`), the clone's first, then the package's.
        names: list of str or None. Runs to load; None: every run in `models_dir`.
        default: str or None. The model of requests that name none.
        reader_options: dict. `Reader` arguments (limits, decoder).
    """

    def __init__(self, models_dir, names=None, default=None, **reader_options):
        self.models_dir = models_dir
        self.names = list(names) if names else None
        self._default = default
        self.reader_options = reader_options
        self.readers = {}
        self.failed = {}
        self._loading = threading.Lock()

    def candidates(self):
        """The run names this registry would load now."""
        if self.names is not None:
            return list(self.names)
        if self.models_dir is None:
            return shipped_runs()
        if not os.path.isdir(self.models_dir):
            return []
        return sorted(n for n in os.listdir(self.models_dir) if is_run(os.path.join(self.models_dir, n)))

    def load(self):
        """Loads the runs not loaded yet; returns the names added. A run that fails to load is
        recorded in `failed` with the reason instead of stopping the others."""
        with self._loading:  # one load at a time: two reloads must not load the same run twice
            return self._load()

    def _load(self):
        added = []
        for name in self.candidates():
            if name in self.readers:
                continue
            try:
                path = find_run(name) if self.models_dir is None else os.path.join(self.models_dir, name)
                reader = self.open(path)
            except Exception as error:  # a broken run folder must not take the service down
                self.failed = {**self.failed, name: f"{type(error).__name__}: {error}"}
                continue
            # New dicts, never changed in place: a request reading them on the event loop sees one or the other.
            self.failed = {k: v for k, v in self.failed.items() if k != name}
            self.readers = {**self.readers, name: reader}
            added.append(name)
        return added

    def open(self, path, **overrides):
        """A warm `Reader` of the run folder `path`, with this registry's options (and `overrides`)."""
        reader = Reader(path, **{**self.reader_options, **overrides})
        # The first call traces the model's function (hundreds of ms): not a client's wait.
        c = reader.config
        reader.forward(np.zeros((1, c.height, c.width, c.channels), dtype="uint8"))
        return reader

    @property
    def default(self):
        """The name of the default model."""
        readers = self.readers
        if self._default in readers:
            return self._default
        if DEFAULT_MODEL in readers:
            return DEFAULT_MODEL
        return next(iter(sorted(readers)), None)

    def get(self, name=None):
        """The `Reader` of `name` (None: the default), or a 404 `ApiError` listing the known names."""
        readers = self.readers
        name = name or self.default
        if name not in readers:
            raise ApiError(
                404,
                f"Unknown model {name!r}. Known models: {', '.join(sorted(readers)) or 'none'}.",
                models=sorted(readers),
            )
        return readers[name]
