"""Training with tf.distribute on this CPU: logical devices for MirroredStrategy, local processes for workers."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
from helpers import ROOT
from helpers import TINY_TRAINING
from helpers import read_json

from captcha_keras.training import TrainConfig
from captcha_keras.training.distribute import resolve_strategy_name
from captcha_keras.training.distribute import worker_role


def tf_config(workers, index, kind="worker", chief=None):
    cluster = {"worker": workers}
    if chief:
        cluster["chief"] = chief
    return json.dumps({"cluster": cluster, "task": {"type": kind, "index": index}})


@pytest.mark.parametrize(
    "config, role",
    [
        (None, (0, 1, True)),
        (tf_config(["a:1", "b:2"], 0), (0, 2, True)),
        (tf_config(["a:1", "b:2"], 1), (1, 2, False)),
        (tf_config(["a:1", "b:2"], 0, "chief", chief=["c:3"]), (0, 3, True)),
        (tf_config(["a:1", "b:2"], 0, chief=["c:3"]), (1, 3, False)),
    ],
)
def test_worker_roles_from_tf_config(monkeypatch, config, role):
    if config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", config)
    assert worker_role() == role


def test_a_malformed_tf_config_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": ')
    with pytest.raises(ValueError, match="TF_CONFIG must be JSON like"):
        worker_role()


@pytest.mark.parametrize(
    "name, gpus, config, expected",
    [
        ("auto", 0, None, "none"),
        ("auto", 1, None, "none"),
        ("auto", 4, None, "mirrored"),
        ("auto", 0, tf_config(["a:1", "b:2"], 1), "multiworker"),
        ("none", 4, None, "none"),
        ("mirrored", 0, None, "mirrored"),
    ],
)
def test_auto_picks_the_strategy_the_machine_calls_for(monkeypatch, name, gpus, config, expected):
    if config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", config)
    assert resolve_strategy_name(name, gpus) == expected


@pytest.mark.parametrize(
    "values, message",
    [
        ({"distribute": "horovod"}, "Unknown --distribute"),
        ({"cpu_replicas": 2}, "goes with --distribute mirrored"),
        ({"distribute": "mirrored", "cpu_replicas": 0}, "N >= 1"),
    ],
)
def test_bad_distribute_settings_are_refused(values, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**values)


# In a fresh process: logical CPU devices exist only if made before TensorFlow starts.
MIRRORED_VERSUS_ONE_DEVICE = """
import json
import keras
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from captcha_keras.charset import Charset
from captcha_keras.data.synthetic import SyntheticCaptchas
from captcha_keras.models import build_model
from captcha_keras.training.distribute import distributed_batches, synchronize_batch_norms
from captcha_keras.training.phases import compile_model

charset = Charset("digits")
stream = SyntheticCaptchas("digits", 64, 32, 3, grayscale=True, batch_size=16, steps=6, seed=3, family="ctc")
batches = [stream[i] for i in range(6)]

class Halves(keras.utils.PyDataset):
    # The same batches of 16, each as two halves in a row: one a replica.
    def __len__(self):
        return 12
    def __getitem__(self, i):
        x, y = batches[i // 2]
        half = slice(0, 8) if i % 2 == 0 else slice(8, 16)
        return x[half], y[half]

def model():
    keras.utils.set_random_seed(0)
    return build_model("crnn_ctc_fast", len(charset), height=32, width=64, channels=1, min_length=3, max_length=3)

one = compile_model(model(), "ctc", charset, 1e-3)
start = [w.copy() for w in one.get_weights()]
one_losses = [float(one.train_on_batch(x, y)) for x, y in batches]
moved = sum(not (a == b).all() for a, b in zip(start, one.get_weights()))
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    mirrored = compile_model(synchronize_batch_norms(model()), "ctc", charset, 1e-3)
losses = []
log = keras.callbacks.LambdaCallback(on_train_batch_end=lambda batch, logs: losses.append(float(logs["loss"])))
data, steps = distributed_batches(strategy, Halves())
assert steps == 6  # 12 per-replica batches, 2 replicas
mirrored.fit(data, steps_per_epoch=steps, epochs=1, verbose=0, callbacks=[log], shuffle=False)
print(json.dumps({"one": one_losses, "mirrored": losses, "replicas": strategy.num_replicas_in_sync, "moved": moved}))
"""


@pytest.mark.train
def test_mirrored_over_two_cpu_devices_follows_one_device_on_the_same_global_batches():
    result = subprocess.run(
        [sys.executable, "-c", MIRRORED_VERSUS_ONE_DEVICE], capture_output=True, text=True, cwd=ROOT, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    losses = json.loads(result.stdout.strip().splitlines()[-1])
    assert losses["replicas"] == 2
    # Keras logs the epoch's running mean; train_on_batch returns each batch's loss.
    one = np.cumsum(losses["one"]) / np.arange(1, 7)
    # The same global batch of 16 split 8 + 8, batch norms synchronised: only
    # float32 summation order differs (measured: 2e-7 relative at the first
    # step, 1e-6 after six). A replica that normalised by its own half, or
    # gradients summed instead of averaged, would be off by far more.
    np.testing.assert_allclose(losses["mirrored"], one, rtol=1e-4)
    # It trained: the two agree over six updates, not six reads of one model. The weights moving says
    # so; whether six steps of a tiny model have lowered its loss yet is neither the point nor certain.
    assert losses["moved"] > 0


def tiny_args(tmp_path, run_name, *extra):
    return [
        sys.executable,
        os.path.join(ROOT, "scripts", "train_ctc.py"),
        *TINY_TRAINING,
        "--length",
        "2-3",
        "--batch-size",
        "8",
        "--run-name",
        run_name,
        "--output-dir",
        str(tmp_path / "models"),
        "--logs-dir",
        str(tmp_path / "logs"),
        *extra,
    ]


@pytest.mark.train
def test_train_script_mirrors_over_logical_cpu_devices(tmp_path):
    result = subprocess.run(
        tiny_args(
            tmp_path,
            "mirrored",
            "--distribute",
            "mirrored",
            "--cpu-replicas",
            "2",
            "--epochs",
            "1",
            "--fine-tune-epochs",
            "1",
        ),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Distributed (MirroredStrategy): 2 replicas on 1 worker(s), global batch 8 x 2 = 16" in result.stdout
    assert read_json(tmp_path / "models" / "mirrored" / "metrics.json")["samples"] == 40


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def start_workers(tmp_path, run_name, *extra):
    hosts = [f"localhost:{port}" for port in free_ports(2)]
    processes = []
    for index in (1, 0):
        env = {**os.environ, "TF_CONFIG": tf_config(hosts, index)}
        log = open(tmp_path / f"worker{index}.log", "w")
        processes.append(
            subprocess.Popen(
                tiny_args(tmp_path, run_name, "--distribute", "multiworker", *extra),
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
                env=env,
            )
        )
    return processes[::-1]  # worker 0 first


def wait_all(processes, timeout=600):
    deadline = time.time() + timeout
    for process in processes:
        process.wait(timeout=max(1, deadline - time.time()))
    return [p.returncode for p in processes]


def fingerprint(log):
    lines = [line for line in log.splitlines() if line.startswith("Weights fingerprint: ")]
    assert len(lines) == 1, log[-3000:]
    return lines[0].split(": ")[1]


@pytest.mark.train
def test_two_workers_on_localhost_train_in_sync_resume_together_and_only_the_chief_writes(tmp_path):
    """Two worker processes with TF_CONFIG, killed mid-run, restarted with --resume."""
    extra = ["--epochs", "6", "--fine-tune-epochs", "2", "--patience", "100"]
    workers = start_workers(tmp_path, "killed", *extra)
    state = tmp_path / "models" / "killed" / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline and all(p.poll() is None for p in workers):
        if state.is_file() and read_json(state).get("epochs_done", 0) >= 2:
            break
        time.sleep(0.2)
    assert all(p.poll() is None for p in workers), "the run ended before it could be interrupted"
    for process in workers:
        process.send_signal(signal.SIGKILL)
        process.wait()
    done_before = read_json(state)["epochs_done"]
    assert 2 <= done_before < 6
    resumed = start_workers(tmp_path, "killed", *extra, "--resume")
    codes = wait_all(resumed)
    logs = [(tmp_path / f"worker{i}.log").read_text() for i in (0, 1)]
    assert codes == [0, 0], logs[0][-3000:] + logs[1][-3000:]
    assert "Distributed (MultiWorkerMirroredStrategy): 2 replicas on 2 worker(s)" in logs[0]
    for log in logs:
        assert "Epoch 1/6" not in log  # both went on from their backups
    assert fingerprint(logs[0]) == fingerprint(logs[1])
    assert read_json(state)["phase1"]["epochs"] == 6
    run = tmp_path / "models" / "killed"
    assert (run / "metrics.json").is_file() and (run / "savedmodel").is_dir()
    assert "Not the chief" in logs[1] and "Not the chief" not in logs[0]
    # The second worker wrote nothing beside the chief's run folder, and cleared its own.
    assert sorted(os.listdir(tmp_path / "models")) == ["killed"]
    assert not any(name.startswith("captcha-keras-worker1-killed") for name in os.listdir(tempfile.gettempdir()))
