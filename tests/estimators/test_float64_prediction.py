"""The float64 prediction copy really computes in float64 on every backend.

Off TensorFlow, Keras's type promotion maps float64 to float32, and its torch
matmul (among others) casts to that; ``keras_fixes.float64_promotion`` keeps
float64 inside the estimators' prediction. These tests fail loudly when
upstream changes the promotion table the fix relies on.
"""

import keras
import numpy as np

from tfzoo.distribute import keras_fixes
from tfzoo.estimators._runtime import dtype_scope


def test_the_promotion_table_is_what_the_fix_expects():
    from keras.src.backend.common import dtypes

    table = dtypes.BIT64_TO_BIT32_DTYPE
    if keras.backend.backend() == "tensorflow":
        assert table["float64"] == "float64"  # nothing to fix there
    else:
        assert keras_fixes.promotion_truncates_float64()
    with dtype_scope("float64"):
        pass
    assert table["float64"] == ("float64" if keras.backend.backend() == "tensorflow" else "float32")


def test_float64_matmul_and_tanh_inside_the_scope():
    rng = np.random.default_rng(0)
    a = 1.7e9 + rng.normal(size=(4, 3)) * 1e3
    b = rng.normal(size=(3, 2)) * 1e-4
    want = np.tanh(a @ b / 1e5)
    with dtype_scope("float64"):
        x = keras.ops.convert_to_tensor(a, "float64")
        out = keras.ops.tanh(keras.ops.matmul(x, keras.ops.convert_to_tensor(b, "float64")) / 1e5)
        got = keras.ops.convert_to_numpy(out)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_nested_scopes_restore_the_table():
    from keras.src.backend.common import dtypes

    before = dict(dtypes.BIT64_TO_BIT32_DTYPE)
    with dtype_scope("float64"), dtype_scope("float64"):
        pass
    assert dtypes.BIT64_TO_BIT32_DTYPE == before
