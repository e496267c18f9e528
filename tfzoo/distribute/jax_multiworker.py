"""``strategy="multiworker"`` on Keras's JAX backend: the cluster, its start, each process's input.

How a cluster is described (every process gets the same description and its
own id), in this order:

1. Keras's own variables, which ``keras.distribution.initialize()`` reads:
   ``KERAS_DISTRIBUTION_JOB_ADDRESSES`` (``host:port`` of every process,
   comma-separated; the first is the coordinator, which process 0 serves),
   ``KERAS_DISTRIBUTION_NUM_PROCESSES`` (optional when the addresses list all
   processes) and ``KERAS_DISTRIBUTION_PROCESS_ID`` (``0`` to ``N - 1``);
2. ``TF_CONFIG``, as for TensorFlow's ``MultiWorkerMirroredStrategy``: its
   chief and workers (chief first, then the workers in order) are the
   processes, this task's place among them its id, and the first task's
   address the coordinator (the other addresses are not listened on).

:func:`initialize` starts JAX's distributed runtime with it once per process
(``keras.distribution.initialize``, which also gives every process the same
Keras seed); on CPU devices the cross-process collectives are Gloo's
(``jax_cpu_collectives_implementation``). After it ``jax.devices()`` lists
every process's devices, over which ``get_distribution("multiworker")`` lays
a ``keras.distribution.DataParallel``.

Input: Keras's JAX trainer expects each process to feed its share of every
global batch (``jax.make_array_from_process_local_data``). Keras shards a
``tf.data.Dataset`` itself (``auto_shard_dataset``); arrays it refuses. tfzoo
shards arrays itself (:func:`local_rows`, :func:`process_local_input`): process
``p`` of ``P`` feeds rows ``[p * B / P, (p + 1) * B / P)`` of each global batch
of ``B`` rows, so the processes together train on the very batches one process
would.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass

import numpy as np

logger = logging.getLogger("tfzoo.distribute")

ADDRESSES = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
NUM_PROCESSES = "KERAS_DISTRIBUTION_NUM_PROCESSES"
PROCESS_ID = "KERAS_DISTRIBUTION_PROCESS_ID"


@dataclass(frozen=True)
class JaxCluster:
    """The processes that train together: the coordinator's address, how many, which one this is."""

    coordinator: str
    num_processes: int
    process_id: int
    source: str

    def describe(self):
        return (
            f"{self.source}: process {self.process_id} of {self.num_processes}, "
            f"coordinator {self.coordinator}"
        )


def _int_var(env, name):
    raw = env.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def jax_cluster(environ=None):
    """The cluster the environment describes (see the module docstring), or None.

    Raises:
        ValueError: a description that is incomplete or inconsistent (it says
            which variable and what it holds).
    """
    env = os.environ if environ is None else environ
    if any(env.get(name) for name in (ADDRESSES, NUM_PROCESSES, PROCESS_ID)):
        jobs = [a.strip() for a in env.get(ADDRESSES, "").split(",") if a.strip()]
        if not jobs:
            raise ValueError(
                f"{ADDRESSES} must give the coordinator's host:port (or every process's, "
                f"comma-separated), got {env.get(ADDRESSES)!r}"
            )
        num = _int_var(env, NUM_PROCESSES)
        if num is None:
            if len(jobs) < 2:
                raise ValueError(
                    f"{NUM_PROCESSES} must be set when {ADDRESSES} names one address "
                    f"({jobs[0]!r}, the coordinator)"
                )
            num = len(jobs)
        if num < 1 or (len(jobs) > 1 and num != len(jobs)):
            raise ValueError(
                f"{NUM_PROCESSES}={num} does not match {ADDRESSES}, which names "
                f"{len(jobs)} address(es)"
            )
        pid = _int_var(env, PROCESS_ID)
        if pid is None or not 0 <= pid < num:
            raise ValueError(
                f"{PROCESS_ID} must be this process's id, 0 to {num - 1}, got "
                f"{env.get(PROCESS_ID)!r}"
            )
        return JaxCluster(jobs[0], num, pid, "KERAS_DISTRIBUTION_* variables")
    raw = env.get("TF_CONFIG")
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except ValueError as exc:
        raise ValueError(f"TF_CONFIG is not valid JSON: {raw[:200]!r}") from exc
    cluster = config.get("cluster") or {}
    tasks = [
        (kind, i, address)
        for kind in ("chief", "worker")
        for i, address in enumerate(cluster.get(kind, []))
    ]
    task = config.get("task") or {}
    me = (task.get("type"), int(task.get("index", 0)))
    ids = [i for i, (kind, index, _) in enumerate(tasks) if (kind, index) == me]
    if not ids:
        raise ValueError(
            f"TF_CONFIG's task {task!r} is not among its chief and workers "
            f"({[f'{k}-{i}' for k, i, _ in tasks]}); on JAX those are the processes"
        )
    return JaxCluster(tasks[0][2], len(tasks), ids[0], "TF_CONFIG")


def initialize(spec="multiworker"):
    """Start JAX's distributed runtime from the environment (once); a sentence saying how.

    Raises:
        RuntimeError: no cluster is described, or JAX had started computing
            before (``jax.distributed`` must start first).
        ValueError: a description that is incomplete or inconsistent.
    """
    import jax
    import keras

    if jax.distributed.is_initialized():
        return (
            f"JAX's distributed runtime was started already: process "
            f"{jax.process_index()} of {jax.process_count()}"
        )
    cluster = jax_cluster()
    if cluster is None:
        raise RuntimeError(
            f"strategy={spec!r} on Keras's JAX backend needs the cluster of processes: set "
            f"{ADDRESSES} (the coordinator's host:port, or every process's, comma-separated), "
            f"{NUM_PROCESSES} and {PROCESS_ID} on every process (or TF_CONFIG, as for "
            "TensorFlow), got none of them"
        )
    collectives = jax.config.jax_cpu_collectives_implementation
    if collectives in (None, "", "none"):
        # CPU devices of several processes talk through Gloo (TCP)
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        collectives = "gloo"
    try:
        keras.distribution.initialize(
            job_addresses=cluster.coordinator,
            num_processes=cluster.num_processes,
            process_id=cluster.process_id,
        )
    except RuntimeError as exc:
        raise RuntimeError(
            f"strategy={spec!r} could not start JAX's distributed runtime "
            f"({cluster.describe()}): {exc}. It must start before JAX computes anything: "
            "resolve the strategy first in the process."
        ) from exc
    return f"{cluster.describe()}; CPU collectives: {collectives}"


def process_share(distribution):
    """``(process_id, num_processes)`` of a multi-process ``distribution``; None for one process."""
    if distribution is None or not getattr(distribution, "_is_multi_process", False):
        return None
    import jax

    return jax.process_index(), jax.process_count()


def share_of_batch(batch_rows, process):
    """The slice of a global batch of ``batch_rows`` rows that ``process=(p, P)`` feeds."""
    p, count = process
    per = batch_rows // count
    return slice(p * per, (p + 1) * per)


def local_rows(n, batch_size, process, multiple):
    """Indices of the rows process ``process=(p, P)`` feeds for ``n`` rows in global batches.

    Each global batch of ``batch_size`` rows (the last one may be smaller) gives
    every process an equal contiguous share; every batch must split evenly over
    the ``multiple`` devices of all processes (one per-device share each).

    Raises:
        ValueError: a batch that does not split evenly.
    """
    sizes = [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    for size in dict.fromkeys(sizes):  # the full batches first
        if size % multiple:
            raise ValueError(
                f"under strategy='multiworker' every global batch must split evenly over the "
                f"{multiple} devices of the {process[1]} processes: {n} rows in batches of "
                f"{batch_size} give a batch of {size} rows"
            )
    rows = []
    start = 0
    for size in sizes:
        share = share_of_batch(size, process)
        rows.append(np.arange(start + share.start, start + share.stop))
        start += size
    return np.concatenate(rows) if rows else np.zeros(0, np.int64)


@contextlib.contextmanager
def process_local_input(distribution):
    """Keras takes each process's input as its share (tfzoo sharded it) inside the block."""
    if process_share(distribution) is None:
        yield
        return
    before = distribution.auto_shard_dataset
    distribution.auto_shard_dataset = False
    try:
        yield
    finally:
        distribution.auto_shard_dataset = before


def shared_seed(distribution):
    """A fresh seed, the same in every process of ``distribution`` (process 0's draw)."""
    seed = int(np.random.SeedSequence().generate_state(1)[0] % (2**31 - 1))
    if process_share(distribution) is None:
        return seed
    from jax.experimental import multihost_utils

    return int(multihost_utils.broadcast_one_to_all(np.int32(seed)))


def _is_arrays(data):
    import keras

    leaves = keras.tree.flatten(data)
    return bool(leaves) and all(isinstance(leaf, np.ndarray) for leaf in leaves)


def shard_fit_arguments(x, y, fit_kwargs, process, devices):
    """``model.fit``'s NumPy arguments cut to this process's share (see :func:`local_rows`).

    ``x``, ``y``, ``sample_weight`` and a ``validation_data`` tuple of arrays
    become this process's rows and ``batch_size`` (``validation_batch_size``)
    its share of the global batch; anything else (a ``tf.data.Dataset``, which
    Keras shards itself) is left as it is. Returns ``(x, y, fit_kwargs)``.
    """
    import keras

    fit_kwargs = dict(fit_kwargs)
    if not _is_arrays(x):
        return x, y, fit_kwargs
    count = process[1]
    batch = int(fit_kwargs.get("batch_size") or 32)  # Keras's default
    n = len(keras.tree.flatten(x)[0])

    def take(data, rows):
        return None if data is None else keras.tree.map_structure(lambda a: a[rows], data)

    rows = local_rows(n, batch, process, devices)
    x, y = take(x, rows), take(y, rows)
    fit_kwargs["sample_weight"] = take(fit_kwargs.get("sample_weight"), rows)
    fit_kwargs["batch_size"] = batch // count
    validation = fit_kwargs.get("validation_data")
    if isinstance(validation, (tuple, list)) and _is_arrays(validation):
        val_batch = int(fit_kwargs.get("validation_batch_size") or batch)
        val_rows = local_rows(len(keras.tree.flatten(validation)[0]), val_batch, process, devices)
        fit_kwargs["validation_data"] = tuple(take(part, val_rows) for part in validation)
        fit_kwargs["validation_batch_size"] = val_batch // count
    return x, y, fit_kwargs
