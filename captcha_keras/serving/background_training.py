""" "Train now" on the labelling page: a fine-tune on the labels so far, in a background process.

`POST /label/train` starts `python -m captcha_keras train-ctc --data DIR
--init-from <the labelling model's run>` (train-cnn for a multi-head model)
with a short `--max-minutes`, in a process of its own: training holds the
cores for minutes, and a process (unlike a thread) cannot stall the event
loop or the reading threads with Python work, and is stopped whole. A
thread waits on its output, keeps the last lines and counts the epochs from
the lines Keras prints (`--verbose 2`). When the process ends well, the new
run is loaded, the folder is read again with it, and it replaces the
labelling model; when it fails, its last lines say why and the old model
goes on serving. One training at a time.

Runs and their logs go under a folder the service owns (`runs_dir`, by
default `DIR/.captcha_keras_runs`): `models/<run>`, `logs/<run>` and
`<run>.log`, the whole output. The labelling session lists only the image
files directly in `DIR`, and the trainer reads only those listed in
`labels.csv`, so nothing there is taken for a captcha.
"""

import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time

from captcha_keras.runs import BEST_MODEL_FILE
from captcha_keras.serving.errors import ApiError

# Lines of the trainer's output kept for the page.
LOG_LINES = 40
# The epoch line of Keras' fit at verbose 2 ends with the run's own logs: "... - phase: 1.0000 - minutes: 0.2500".
EPOCH_LINE = re.compile(r" - loss: .* - minutes: (?P<minutes>[0-9.]+)")
PHASE = re.compile(r" - phase: (?P<phase>[0-9.]+)")
ACCURACY = re.compile(r" - val_seq_acc: (?P<accuracy>[0-9.]+)")


class BackgroundTraining:
    """Fine-tunes a `LabelSession`'s model on its labels, one process at a time.

    Args:
        session: `LabelSession`. The folder, its labels and its model.
        runs_dir: str. Where runs (`models/`), logs (`logs/`) and the trainers' outputs go.
        open_reader: callable. Takes a run folder, returns a warm `Reader` of it.
        max_minutes: float. `--max-minutes` of each training.
        extra_flags: list of str. More flags of the trainer, after ours (so they win).
        min_labels: int. Fewer labels are refused before any process starts.

    Example:

    >>> training = BackgroundTraining(session, "/tmp/runs", open_reader, max_minutes=5)
    >>> training.start()["state"]
    'running'
    """

    def __init__(self, session, runs_dir, open_reader, max_minutes=5.0, extra_flags=(), min_labels=10):
        self.session = session
        self.runs_dir = runs_dir
        self.open_reader = open_reader
        self.max_minutes = max_minutes
        self.extra_flags = list(extra_flags)
        self.min_labels = min_labels
        self._lock = threading.Lock()
        self._process = None
        self._state = {"state": "idle"}
        self._tail = collections.deque(maxlen=LOG_LINES)

    def status(self):
        """Where the training stands: `state` (idle, running, finished, failed), progress, and on failure
        the last lines of its output."""
        with self._lock:
            state = dict(self._state)
            tail = list(self._tail)
        if state["state"] == "running":
            state["elapsed_minutes"] = round((time.monotonic() - state.pop("_started")) / 60, 3)
        else:
            state.pop("_started", None)
        if state["state"] == "failed":
            state["log_tail"] = tail
        elif state["state"] != "idle":
            state["last_line"] = tail[-1] if tail else ""
        state["model"] = self.session.model.name if self.session.model else None
        return state

    def start(self):
        """Starts a training on `labels.csv` as it is now; returns `status()`.

        Raises:
            ApiError: 409 a training runs already, the folder is still being
                read, there are fewer than `min_labels` labels, or the model
                has no weights to start from.
        """
        with self._lock:
            if self._state["state"] == "running":
                raise ApiError(
                    409,
                    f"A training runs already ({self._state['run']}); wait for it to finish (GET /label/train).",
                )
            status = self.session.status()
            reader = self.session.model
            if not status["read"] or reader is None:
                raise ApiError(409, "The folder is still being read; train once the queue is there.")
            if status["labelled"] < self.min_labels:
                raise ApiError(
                    409,
                    f"Training needs at least {self.min_labels} labels; {status['labelled']} so far: label "
                    f"{self.min_labels - status['labelled']} more.",
                    labelled=status["labelled"],
                    needed=self.min_labels,
                )
            start_from = os.path.abspath(reader.path or "")
            if not os.path.isfile(os.path.join(start_from, BEST_MODEL_FILE)):
                # The copies inside the installed package ship exports only.
                raise ApiError(
                    409,
                    f"The labelling model {reader.name} has no {BEST_MODEL_FILE} to fine-tune from; "
                    "serve a trained run folder (--models-dir) as --label-model.",
                )
            run = self._new_run_name()
            command = self.command(start_from, run)
            self._tail.clear()
            log_path = os.path.join(self.runs_dir, f"{run}.log")
            os.makedirs(self.runs_dir, exist_ok=True)
            log = open(log_path, "w", encoding="utf-8")
            try:
                process = subprocess.Popen(
                    command,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    text=True,
                    errors="replace",
                    # Lines as they come, for the progress; a session of its own, so that a Ctrl+C
                    # meant for the service reaches the trainer through `stop`, not twice.
                    env={**os.environ, "PYTHONUNBUFFERED": "1"},
                    start_new_session=True,
                )
            except OSError as error:
                log.close()
                raise ApiError(500, f"Could not start the training: {error}.") from None
            _lower_priority(process.pid)
            self._process = process
            self._state = {
                "state": "running",
                "stage": "starting",
                "run": run,
                "run_dir": os.path.join(self.runs_dir, "models", run),
                "log": log_path,
                "labels": status["labelled"],
                "from": reader.name,
                "max_minutes": _last_value(command, "--max-minutes", self.max_minutes),
                "epochs": 0,
                "_started": time.monotonic(),
            }
        threading.Thread(target=self._watch, args=(process, log), name="captcha-keras-training", daemon=True).start()
        return self.status()

    def command(self, start_from, run):
        """The trainer's command line for a run `run` that starts from the run folder `start_from`."""
        family = self.session.model.config.family
        return [
            sys.executable,
            "-m",
            "captcha_keras",
            "train-ctc" if family == "ctc" else "train-cnn",
            "--data",
            os.path.abspath(self.session.folder),
            "--init-from",
            start_from,
            # The labelling model keeps every character it reads: a user labels what the first labels lacked too.
            "--charset",
            self.session.model.config.charset,
            "--max-minutes",
            f"{self.max_minutes:g}",
            "--output-dir",
            os.path.join(self.runs_dir, "models"),
            "--logs-dir",
            os.path.join(self.runs_dir, "logs"),
            "--run-name",
            run,
            "--verbose",
            "2",
            *self.extra_flags,
        ]

    def stop(self):
        """Stops a training that still runs (the service is shutting down)."""
        process = self._process
        if process is None or process.poll() is not None:
            return
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            _signal_group(process, getattr(signal, "SIGKILL", signal.SIGTERM))

    def _new_run_name(self):
        base = time.strftime("label-%Y%m%d-%H%M%S")
        name, count = base, 1
        while any(os.path.exists(p) for p in self._run_paths(name)):
            count += 1
            name = f"{base}-{count}"
        return name

    def _run_paths(self, name):
        return (
            os.path.join(self.runs_dir, "models", name),
            os.path.join(self.runs_dir, "logs", name),
            os.path.join(self.runs_dir, f"{name}.log"),
        )

    def _update(self, **values):
        with self._lock:
            self._state.update(values)

    def _watch(self, process, log):
        """The thread of one training: follows its output, then swaps the model in or reports the failure."""
        with log:
            for line in process.stdout:
                # Text mode splits a progress bar's redraws at their carriage returns; stripping drops
                # the spaces that blank out the old bar, which would hide an error printed after it.
                line = line.strip()
                if line:
                    log.write(line + "\n")
                    log.flush()
                    self._record(line)
            returncode = process.wait()
        with self._lock:
            run_dir = self._state["run_dir"]
        if returncode != 0:
            self._finish("failed", returncode, message=f"The trainer exited with status {returncode}.")
            return
        try:
            self._update(stage="loading the new model")
            reader = self.open_reader(run_dir)
            self._update(stage="reading the folder with the new model")
            self.session.read_all(reader)
        except Exception as error:  # a run that does not load leaves the old model serving
            with self._lock:
                self._tail.append(f"{type(error).__name__}: {error}")
            self._finish("failed", returncode, message=f"The new run did not load: {type(error).__name__}: {error}")
            return
        self._finish("finished", returncode, message=f"The labelling model is now {reader.name}.")

    def _record(self, line):
        with self._lock:
            self._tail.append(line)
            epoch = EPOCH_LINE.search(line)
            if epoch:
                phase, accuracy = PHASE.search(line), ACCURACY.search(line)
                self._state.update(
                    stage="training",
                    epochs=self._state["epochs"] + 1,
                    minutes=float(epoch["minutes"]),
                    phase=int(float(phase["phase"])) if phase else None,
                    val_seq_acc=float(accuracy["accuracy"]) if accuracy else None,
                )
            elif line.startswith("Calibrated on"):
                self._state.update(stage="calibrating and scoring")

    def _finish(self, state, returncode, message):
        with self._lock:
            started = self._state.pop("_started")
            self._state.update(
                state=state,
                stage=None,
                returncode=returncode,
                message=message,
                total_minutes=round((time.monotonic() - started) / 60, 3),
            )
            self._process = None


def _last_value(command, flag, default):
    """The value of the last `flag` in `command` as a float (a later flag wins in argparse), or `default`."""
    value = default
    for i, item in enumerate(command):
        if item == flag and i + 1 < len(command):
            value = command[i + 1]
        elif item.startswith(flag + "="):
            value = item.split("=", 1)[1]
    try:
        return float(value)
    except ValueError:
        return default


def _signal_group(process, number):
    """Signals the trainer and the processes it started (its data workers): its session is a group."""
    try:
        os.killpg(process.pid, number)
    except (AttributeError, OSError):
        # No process groups (Windows), or it has just ended.
        if number == signal.SIGTERM:
            process.terminate()
        else:
            process.kill()


def _lower_priority(pid):
    """Lowers the trainer's priority, so that serving the page and `/predict` keeps the upper hand.

    Threads inherit it from the thread that creates them, and the trainer
    creates its threads later, when TensorFlow loads.
    """
    try:
        os.setpriority(os.PRIO_PROCESS, pid, 10)
    except (AttributeError, OSError):
        pass  # not everywhere (Windows), and a lower priority is a courtesy, not a need
