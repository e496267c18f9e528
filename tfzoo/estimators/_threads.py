"""TensorFlow's thread pools inside joblib worker processes.

joblib's process backends (loky, the default of ``GridSearchCV(n_jobs=...)``,
and multiprocessing) give every worker its share of the machine's cores by
setting ``OMP_NUM_THREADS`` and friends to ``cpu_count() // n_jobs`` in the
worker's environment. TensorFlow reads none of them: each worker's runtime
sized its pools for every core, so ``n_jobs`` workers ran ``n_jobs`` times as
many busy threads as there are cores (``benchmarks/parallel_search.py``).
On the torch backend the same budget goes to ``torch.set_num_threads``.
"""

from __future__ import annotations

import multiprocessing
import os

#: Environment variables with which the user sizes TensorFlow's pools himself.
TF_THREAD_VARS = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def joblib_worker_threads(environ=None, process=None):
    """The thread budget joblib gave this process, or ``None`` outside a joblib worker.

    A process counts as a joblib worker when it is one of loky's worker
    processes or a daemonic ``multiprocessing`` child (joblib's
    ``"multiprocessing"`` backend) and ``OMP_NUM_THREADS`` is set (joblib sets
    it for its workers).
    """
    env = os.environ if environ is None else environ
    process = multiprocessing.current_process() if process is None else process
    in_worker = type(process).__name__ == "LokyProcess" or (
        multiprocessing.parent_process() is not None and process.daemon
    )
    if not in_worker:
        return None
    try:
        threads = int(env.get("OMP_NUM_THREADS", ""))
    except ValueError:
        return None
    return threads if threads >= 1 else None


def share_threads_in_joblib_worker():
    """Size TensorFlow's pools to joblib's per-worker budget, once, when that can still be done.

    Does nothing outside a joblib worker, when ``TF_NUM_INTRAOP_THREADS`` or
    ``TF_NUM_INTEROP_THREADS`` is set (the user's choice wins), or once
    TensorFlow's runtime has started in this process (its pools are then
    fixed). Returns the number of threads set, or ``None``.
    """
    env = os.environ
    if any(env.get(var) for var in TF_THREAD_VARS):
        return None
    threads = joblib_worker_threads(env)
    if threads is None:
        return None
    import keras

    if keras.backend.backend() == "torch":
        # torch reads OMP_NUM_THREADS itself when it starts; set it again in
        # case torch started before joblib's environment reached it.
        import torch

        if torch.get_num_threads() != threads:
            torch.set_num_threads(threads)
        return threads
    if keras.backend.backend() != "tensorflow":
        return None  # XLA's CPU pool (JAX) is sized when JAX starts, from the cores it sees
    import tensorflow as tf

    config = tf.config.threading
    if (
        config.get_intra_op_parallelism_threads() == threads
        and config.get_inter_op_parallelism_threads() == threads
    ):
        return threads
    try:
        config.set_intra_op_parallelism_threads(threads)
        config.set_inter_op_parallelism_threads(threads)
    except RuntimeError:  # the runtime has started: its pools stay as they are
        return None
    return threads
