"""Training across devices and machines with tf.distribute.

- `mirrored`: `MirroredStrategy` over every GPU of the machine (or over
  `cpu_replicas` logical CPU devices, to try the multi-device path on a
  machine without GPUs);
- `multiworker`: `MultiWorkerMirroredStrategy` over the machines of
  `TF_CONFIG`, each running the same command;
- `auto`: multiworker when `TF_CONFIG` lists several tasks, mirrored when
  the machine has several GPUs, else none.

`--batch-size` is per replica: the global batch is it times the replicas.
The learning rate is not scaled with the global batch (Adam's steps do not
grow with the batch as SGD's do); pass `--lr` to change it.

Each input pipeline (one a worker) draws its own batches: pipeline `w` of
`W` reads batch `i * W + w` of the run's stream at its `i`-th draw, so at any
step no two workers train on the same batch, and a seed still fixes them all.
Only the chief (worker 0, or the `chief` task) writes the run folder and the
logs; the other workers write theirs to a folder of their own under the
system's temporary directory, which `--resume` on the same machine reads.
"""

import json
import os
import tempfile

STRATEGIES = ("auto", "none", "mirrored", "multiworker")


def cluster_spec():
    """`(cluster, task)` of `TF_CONFIG`, or `(None, None)` when it is unset.

    Raises:
        ValueError: `TF_CONFIG` is not valid JSON with a cluster and a task.
    """
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None, None
    try:
        spec = json.loads(raw)
        cluster, task = spec["cluster"], spec["task"]
        task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            f'TF_CONFIG must be JSON like {{"cluster": {{"worker": ["host1:port", "host2:port"]}}, '
            f'"task": {{"type": "worker", "index": 0}}}}. Received: {raw[:200]!r} ({error})'
        ) from None
    return cluster, task


def worker_role():
    """`(index, count, is_chief)` of this process among the cluster's trainers."""
    cluster, task = cluster_spec()
    if cluster is None:
        return 0, 1, True
    trainers = [t for t in ("chief", "worker") if t in cluster]
    count = sum(len(cluster[t]) for t in trainers)
    index = int(task["index"]) + (len(cluster.get("chief", [])) if task["type"] == "worker" else 0)
    is_chief = task["type"] == "chief" or ("chief" not in cluster and task["type"] == "worker" and index == 0)
    return index, count, is_chief


def resolve_strategy_name(name, gpus):
    """What `auto` means here; the others as they are.

    Args:
        name: str. One of `STRATEGIES`.
        gpus: int. GPUs this machine has.
    """
    if name not in STRATEGIES:
        raise ValueError(f"Unknown --distribute. Expected one of {STRATEGIES}. Received: {name!r}")
    if name != "auto":
        return name
    _, count, _ = worker_role()
    if count > 1:
        return "multiworker"
    return "mirrored" if gpus > 1 else "none"


def make_strategy(name, cpu_replicas=None):
    """The `tf.distribute.Strategy` of `--distribute`, or None (Keras's default).

    Must run before TensorFlow has placed anything: logical CPU devices and
    the multi-worker runtime are set up once per process.

    Args:
        name: str. One of `STRATEGIES`.
        cpu_replicas: int or None. With `mirrored`, split the CPU into this
            many logical devices and mirror over them.
    """
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    name = resolve_strategy_name(name, len(gpus))
    if name == "none":
        return None
    if name == "multiworker":
        _, count, _ = worker_role()
        if count < 1 or os.environ.get("TF_CONFIG") is None:
            raise ValueError("--distribute multiworker needs TF_CONFIG: see docs/training.md#several-machines.")
        patch_keras_for_multiworker()
        return tf.distribute.MultiWorkerMirroredStrategy()
    if cpu_replicas and cpu_replicas > 1:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_replicas)
        return tf.distribute.MirroredStrategy([f"/cpu:{i}" for i in range(cpu_replicas)])
    return tf.distribute.MirroredStrategy()


def patch_keras_for_multiworker():
    """Two fixes to Keras 3.15's TensorFlow trainer under `MultiWorkerMirroredStrategy`.

    Without them `fit` fails on its first step (keras-team/keras#20585,
    tensorflow/tensorflow#72388), measured here with Keras 3.15.1:
    - `reduce_per_replica` reduces each replica's logs with
      `strategy.reduce("MEAN", v, axis=0)`; the logs (the loss) are scalars,
      so the collective fails with "Invalid reduction dimension 0 for input
      with 0 dimensions". Scalars are reduced with `axis=None` here: the
      mean over replicas, which is what the log means.
    - `_maybe_symbolic_build` reduces the whole first data batch across
      replicas, eagerly, only to learn its shapes; the collective's
      conversion fails ("Attempt to convert a value (PerReplica...)"). One
      replica's local batch has the same shapes.
    Idempotent; Keras is pinned (pyproject.toml), so that these private
    names are the ones patched.
    """
    import tensorflow as tf
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer, "_captcha_keras_patched", False):
        return
    original_reduce = trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and trainer._collective_all_reduce_multi_worker(strategy):

            def reduce(value):
                local = value.values[0] if trainer._is_per_replica_instance(value) else value
                return strategy.reduce("MEAN", value, axis=0 if local.shape.rank else None)

            return tree.map_structure(reduce, values)
        return original_reduce(values, strategy, reduction)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tree.map_structure(
                    lambda v: (
                        self.distribute_strategy.experimental_local_results(v)[0]
                        if isinstance(v, tf.distribute.DistributedValues)
                        else v
                    ),
                    batch,
                )
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    trainer.reduce_per_replica = reduce_per_replica
    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer._captcha_keras_patched = True


def replicas(strategy):
    return strategy.num_replicas_in_sync if strategy is not None else 1


def strategy_name(strategy):
    """The public name of a strategy (TensorFlow's class for the multi-worker one is CollectiveAllReduceStrategy)."""
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    return type(strategy).__name__


def distributed_batches(strategy, dataset):
    """A PyDataset of batches as a distributed tf.data input, sharded by input pipeline.

    Each replica takes whole batches of `dataset` (per-replica batches), so
    an epoch of `steps` global batches is one pass over `dataset`'s
    batches: pipeline `w` of `W`, feeding `R` local replicas, reads batch
    `j * W + w` at the `j`-th of its `steps * R` draws of the epoch, and
    calls `dataset.on_epoch_end()` (a pool's refresh, a folder's new
    augmentation) between epochs, in the data's own order rather than on
    the trainer's clock.

    Returns:
        `(distributed input, steps per epoch)`.
    """
    import numpy as np
    import tensorflow as tf

    first = dataset[0]
    spec = tf.nest.map_structure(lambda a: tf.TensorSpec(np.shape(a), tf.as_dtype(np.asarray(a).dtype)), first)
    steps = max(1, len(dataset) // strategy.num_replicas_in_sync)

    def pipeline(context):
        w, count = context.input_pipeline_id, context.num_input_pipelines
        per_epoch = steps * (context.num_replicas_in_sync // count)

        def draws():
            i = 0
            while True:
                if i and i % per_epoch == 0:
                    dataset.on_epoch_end()
                yield dataset[(i % per_epoch) * count + w]
                i += 1

        data = tf.data.Dataset.from_generator(draws, output_signature=spec).prefetch(2)
        options = tf.data.Options()
        # Already sharded by pipeline: tf.data must not shard it again.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.OFF
        return data.with_options(options)

    return strategy.distribute_datasets_from_function(pipeline), steps


def shadow_dirs(run_name):
    """`(output_dir, logs_dir)` where a non-chief worker writes what the chief writes to the run folder and logs.

    Both under `$TMPDIR/captcha-keras-worker<i>-<run>/`, which the worker
    removes when the run ends and reads again on `--resume`.
    """
    index, _, _ = worker_role()
    root = os.path.join(tempfile.gettempdir(), f"captcha-keras-worker{index}-{run_name}")
    return os.path.join(root, "runs"), os.path.join(root, "logs")


def strategy_role(strategy):
    """`(index, workers, is_chief)` of this process: from TF_CONFIG under multi-worker, else the only one."""
    import tensorflow as tf

    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return worker_role()
    return 0, 1, True


def agree_to_start(strategy, failure, state):
    """Every worker calls this once before training: all go on, or all stop with a clear error.

    Args:
        strategy: the `MultiWorkerMirroredStrategy`.
        failure: the exception this worker met while preparing, or None.
        state: dict. The `state.json` this worker would resume from.

    Raises:
        The worker's own `failure`; ValueError when another worker failed,
        or when the workers would resume from different points.
    """
    import numpy as np
    import tensorflow as tf

    local_replicas = len(strategy.extended.worker_devices)
    mine = np.array(
        [failure is None, state.get("phase", 0), state.get("epochs_done", 0), "phase1" in state, "phase2" in state],
        dtype="float64",
    )

    @tf.function
    def total(values):
        # Each local replica adds its share: the sums run over workers.
        return strategy.reduce("SUM", strategy.run(lambda: tf.identity(values / local_replicas)), axis=None)

    _, workers, _ = worker_role()
    sums = total(tf.constant(mine)).numpy()
    squares = total(tf.constant(mine * mine)).numpy()
    if failure is not None:
        raise failure
    if sums[0] < workers:
        raise ValueError(f"{workers - int(round(sums[0]))} other worker(s) failed to start: see their output.")
    if np.any(np.abs(squares / workers - (sums / workers) ** 2) > 1e-6):
        raise ValueError(
            "The workers would resume from different points of the run (phase, epochs done): restart every "
            "worker with --resume from the same interruption, or start the run again with --overwrite."
        )


def synchronize_batch_norms(model):
    """Makes every BatchNormalization of `model` use the global batch's statistics.

    Each replica would otherwise normalise by its own share of the batch and
    update the moving mean and variance from it alone: workers would end
    with different moving statistics, and a replica batch of 16 normalises
    unlike the single device's 128. Read when the layer is called, so this
    applies to a built model; the saved config keeps `synchronized`, which
    does nothing without a strategy.
    """
    from keras import layers

    for layer in model._flatten_layers():
        if isinstance(layer, layers.BatchNormalization):
            layer.synchronized = True
    return model


class SyncedClock:
    """A `RunClock` that every worker reads alike: the chief's minutes at the last sync.

    Time budgets and the cosine schedule's time-based progress decide from
    the clock; on workers that read their own clocks they would decide
    differently (a learning rate a hair apart, one worker stopping an epoch
    before the others and the rest waiting on it forever). `sync`, called at
    the same points on every worker (`ClockSync`), agrees on one value.
    """

    def __init__(self, strategy, minutes_before=0.0):
        import tensorflow as tf

        from captcha_keras.training.callbacks import RunClock

        self._local = RunClock(minutes_before)
        self._strategy = strategy
        self._chief = worker_role()[2]
        self._local_replicas = len(strategy.extended.worker_devices)

        @tf.function
        def agree(minutes):
            # Reductions offer SUM and MEAN: the chief adds its minutes, the others nothing.
            return strategy.reduce("SUM", strategy.run(lambda: tf.identity(minutes)), axis=None)

        self._agree = agree
        self._minutes = minutes_before
        self.sync()

    def sync(self):
        import tensorflow as tf

        mine = self._local.minutes() if self._chief else 0.0
        agreed = self._agree(tf.constant(mine / self._local_replicas, tf.float64))
        self._minutes = float(agreed)

    def minutes(self):
        return self._minutes


def clock_sync_callback(clock):
    """Syncs a `SyncedClock` at each epoch's start and end, before the callbacks that read it."""
    import keras

    return keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: clock.sync(), on_epoch_end=lambda epoch, logs: clock.sync()
    )
