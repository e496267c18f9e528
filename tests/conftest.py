"""Test set-up shared by the whole suite: 2 logical CPUs, configured once."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Lets scikit-learn run its array-API input check (NumPy namespace) instead of skipping it.
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import pytest  # noqa: E402

from tfzoo.testing import configure_logical_cpus  # noqa: E402

# MirroredStrategy tests need two devices; split the CPU before TF starts.
LOGICAL_CPUS = configure_logical_cpus(2)


@pytest.fixture
def rng():
    import numpy as np

    return np.random.default_rng(0)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole session (report pages); ended by its PID after."""
    from tests.browser import INSTALL_HINT, Browser, find_chromium

    if find_chromium() is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    with Browser() as instance:
        yield instance
