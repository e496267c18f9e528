"""Test set-up shared by the whole suite: 2 logical CPUs, configured once."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Lets scikit-learn run its array-API input check (NumPy namespace) instead of skipping it.
os.environ.setdefault("SCIPY_ARRAY_API", "1")
# JAX compiles every new model's train step; the suite fits the same small models on
# the same shapes hundreds of times, and JAX's persistent cache turns each repeat into
# a cache hit (a perceptron fit: 1.3 s -> 0.2 s). One folder per test session.
if "JAX_COMPILATION_CACHE_DIR" not in os.environ:
    import atexit
    import shutil
    import tempfile

    os.environ["JAX_COMPILATION_CACHE_DIR"] = tempfile.mkdtemp(prefix="tfzoo-jax-cache-")
    atexit.register(shutil.rmtree, os.environ["JAX_COMPILATION_CACHE_DIR"], ignore_errors=True)
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
    os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")

# pytest-xdist's workers share the cores: each gets its share of OpenMP threads (torch's
# CPU kernels; child processes inherit it). With a pool as wide as the machine in each of
# two workers, torch's OpenMP threads wait on each other: a tiny CNN's epoch on torch
# took 116-180 ms, 16 ms with one thread per worker (2 cores, 2 workers).
_WORKERS = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1") or 1)
if _WORKERS > 1:
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // _WORKERS)))
    if _WORKERS >= (os.cpu_count() or 1) and "XLA_FLAGS" not in os.environ:
        # and XLA's CPU runtime (JAX) one thread (the same tests: 87 s -> 80 s, measured
        # with a bare intra_op_parallelism_threads=1 beside it, which is gone: a bare
        # token stops XLA reading the flags that tests append, e.g. the device count).
        # LLVM at -O1 instead of -O3: the suite's compiles outweigh its run time (a Mask
        # R-CNN compile-and-predict test 34.8 s -> 28.7 s; the digits CNN's training
        # 19 s -> 23 s; -O0 made that 334 s: XLA's own loops unvectorised).
        os.environ["XLA_FLAGS"] = (
            "--xla_cpu_multi_thread_eigen=false --xla_backend_optimization_level=1"
        )

import keras  # noqa: E402
import pytest  # noqa: E402

from tfzoo.testing import configure_logical_cpus  # noqa: E402

if _WORKERS > 1 and keras.backend.backend() == "tensorflow":
    # The same share for TensorFlow's pools (this process only: children size their own;
    # the digits CNN and the step-budget tests: 52 s -> 43 s on 2 workers).
    import tensorflow as tf

    _share = max(1, (os.cpu_count() or 1) // _WORKERS)
    tf.config.threading.set_intra_op_parallelism_threads(_share)
    tf.config.threading.set_inter_op_parallelism_threads(_share)

# MirroredStrategy tests need two devices; split the CPU before TF starts
# (TensorFlow's backend only: tf.distribute is TensorFlow's).
LOGICAL_CPUS = configure_logical_cpus(2) if keras.backend.backend() == "tensorflow" else None


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)


@pytest.fixture
def set_seed():
    """``set_seed(n)`` seeds Python, NumPy, TensorFlow and Keras for this test only.

    ``keras.utils.set_random_seed`` in a test leaks its seeds into every later test; this
    enters ``tfzoo.estimators._seeding.seeded(n)`` (the estimators' save / seed / restore)
    and leaves it when the test ends, so the global state is as the test found it.
    """
    import contextlib

    from tfzoo.estimators._seeding import seeded

    with contextlib.ExitStack() as stack:
        yield lambda seed: stack.enter_context(seeded(seed))


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session (report pages); ended by its PID after."""
    from tests.browser import INSTALL_HINT, Browser, find_chromium

    if find_chromium() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    with Browser() as instance:
        yield instance


#: What the suite runs on Keras's JAX and PyTorch backends (``KERAS_BACKEND=jax|torch``):
#: everything but the TensorFlow-only features (tf.distribute, parameter servers, placement,
#: TensorBoard's server, the multi-backend test that hides TensorFlow itself) and the data
#: set and COCO-evaluation tests, which are NumPy only and would test the same code thrice.
#: Tests in these places that exercise TensorFlow-only code carry
#: ``@pytest.mark.tensorflow_only``.
PORTABLE = (
    "tests/layers/",
    "tests/models/",
    "tests/estimators/",
    "tests/tuning/",
    "tests/test_recipes.py",
    "tests/test_seed_scoping.py",
    "tests/test_saving.py",
    "tests/test_validation.py",
    "tests/test_public_api.py",
)


#: ``TFZOO_ALL_TESTS=1``: off TensorFlow, run the ``compile_heavy`` tests too (portable
#: tests that take JAX minutes of XLA compiling on 2 cores, e.g. three Mask R-CNN variants:
#: 329 s for one file on JAX here against 39 s on TensorFlow). CI's JAX pass leaves them out
#: to stay in its time budget; they pass on JAX and torch when run this way.
ALL_TESTS = os.environ.get("TFZOO_ALL_TESTS", "") == "1"


#: The longest test files first (seconds on TensorFlow, 2 cores, one worker): pytest-xdist's
#: ``--dist loadfile`` hands files out in collection order, so starting the long ones first
#: keeps one worker from running a long file alone at the end. Other files keep their order.
HEAVY_FILES = {
    "tests/estimators/test_sklearn_checks_nd.py": 370,
    "tests/estimators/test_sklearn_checks_flat.py": 310,
    "tests/estimators/test_sklearn_checks_wrappers.py": 250,
    "tests/models/test_mask_rcnn.py": 140,
    "tests/test_recipes.py": 100,
    "tests/estimators/test_estimators.py": 70,
    "tests/estimators/test_cnn_lstm.py": 55,
    "tests/test_backends.py": 53,
    "tests/distribute/test_fault_tolerance.py": 44,
    "tests/distribute/test_jax_distribution.py": 40,
    "tests/tuning/test_tuners.py": 36,
    "tests/test_gpu_benchmark.py": 45,
    "tests/distribute/test_jax_model_parallel.py": 40,
    "tests/models/test_mask_rcnn_user_data.py": 39,
    "tests/distribute/test_jax_multiworker.py": 30,
    "tests/models/test_perceptron.py": 30,
}


def _heavy_first(items):
    weight = {}
    for item in items:
        path = item.nodeid.split("::", 1)[0].replace("\\", "/")
        weight.setdefault(path, (-HEAVY_FILES.get(path, 0), len(weight)))
    items.sort(key=lambda item: weight[item.nodeid.split("::", 1)[0].replace("\\", "/")])


def pytest_collection_modifyitems(config, items):
    """Heavy files first; off the TensorFlow backend, deselect (not skip) what only
    TensorFlow runs."""
    _heavy_first(items)  # a stable sort: each file's tests keep their order
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return
    keep, dropped = [], []
    for item in items:
        path = item.nodeid.replace("\\", "/")
        portable = path.startswith(PORTABLE) and item.get_closest_marker("tensorflow_only") is None
        if item.get_closest_marker("compile_heavy") is not None and not ALL_TESTS:
            portable = False
        (keep if portable else dropped).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


def pytest_report_header(config):
    backend = keras.backend.backend()
    if backend != "tensorflow":
        return (
            f"Keras backend: {backend} (the TensorFlow-only tests are deselected; they run "
            "with KERAS_BACKEND=tensorflow)"
        )
    return "Keras backend: tensorflow"
