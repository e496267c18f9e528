"""The ``set_seed`` fixture seeds one test only: the next test finds the global state as before.

The two tests run in order: the first records the state, seeds, draws; the second checks that
nothing of it leaked (``keras.utils.set_random_seed`` in a test used to leak).
"""

import random

import numpy as np

from tfzoo.estimators._seeding import global_random_state, state_differences

_FOUND = {}


def draw(keras):
    """One number from each global generator: Python's, NumPy's legacy one, Keras's."""
    legacy = np.random.random()  # noqa: NPY002 (the global state is the point)
    return random.random(), legacy, float(keras.random.uniform((), seed=None))


def test_set_seed_seeds_python_numpy_and_keras(set_seed):
    import keras

    _FOUND.update(global_random_state())
    set_seed(3)
    drawn = draw(keras)
    set_seed(3)
    again = draw(keras)
    assert drawn == again
    set_seed(4)


def test_next_test_finds_the_global_state_unchanged():
    assert _FOUND, "run with the test above"
    now = global_random_state()
    assert state_differences(_FOUND, now) == []
