"""One JAX child process per test file: started with its forced host devices, read back.

The parent (the TensorFlow pass) starts the worker module once per file, with
``KERAS_BACKEND=jax`` and ``XLA_FLAGS`` set before JAX starts; the worker writes
``results.json`` and ``arrays.npz`` into the folder it is given (``write``) and
exits non-zero on any error (``main``). Imports nothing heavy.
"""

import json
import logging
import os
import subprocess
import sys
import traceback

import numpy as np

from tests.netns import ROOT


def run(module, out, devices, timeout_s, extra_xla_flags=""):
    """Run ``python -m module out`` with ``devices`` host devices; its (results, arrays)."""
    import pytest

    env = {k: v for k, v in os.environ.items() if k not in ("TF_CONFIG", "PYTHONPATH")}
    flags = env.get("XLA_FLAGS", "")
    env.update(
        PYTHONPATH=str(ROOT),
        KERAS_BACKEND="jax",
        JAX_PLATFORMS="cpu",
        CUDA_VISIBLE_DEVICES="",
        XLA_FLAGS=(
            f"{flags} --xla_force_host_platform_device_count={devices} {extra_xla_flags}"
        ).strip(),
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", module, str(out)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _, stderr = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate()
        pytest.fail(f"the JAX worker {module} ran past {timeout_s} s:\n{stderr[-4000:]}")
    assert proc.returncode == 0, f"the JAX worker {module} failed:\n{stderr[-6000:]}"
    with open(os.path.join(out, "results.json")) as f:
        results = json.load(f)
    with np.load(os.path.join(out, "arrays.npz")) as arrays:
        return results, dict(arrays)


def collect_log(name):
    """The messages logged to logger ``name`` from now on (INFO and up), as a list."""
    messages = []

    class Collect(logging.Handler):
        def emit(self, record):
            messages.append(record.getMessage())

    log = logging.getLogger(name)
    log.addHandler(Collect())
    log.setLevel(logging.INFO)
    return messages


def write(out_dir, results, arrays):
    """What ``run`` reads back."""
    np.savez(os.path.join(out_dir, "arrays.npz"), **arrays)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1, default=str)


def main(fn):
    """``fn(out_dir)`` from the command line; any error is printed and exits 1."""
    try:
        fn(sys.argv[1])
    except BaseException:
        traceback.print_exc()
        sys.exit(1)
