"""Test set-up shared by the whole suite: 2 logical CPUs, configured once."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Lets scikit-learn run its array-API input check (NumPy namespace) instead of skipping it.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import keras  # noqa: E402
import pytest  # noqa: E402

from tfzoo.testing import configure_logical_cpus  # noqa: E402

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
