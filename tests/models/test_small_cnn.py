import numpy as np
import pytest

from tfzoo.models import build_small_cnn
from tfzoo.models.small_cnn import SEED_PARAMS, SEED_WEIGHTS


def test_seed_table_shapes_and_parameter_count():
    model = build_small_cnn()
    shapes = {layer.name: layer.output.shape for layer in model.layers[1:]}
    assert shapes["conv1"] == (None, 28, 28, 16)  # the seed's "28x28x9" is a typo
    assert shapes["conv2"] == (None, 14, 14, 8)
    assert shapes["conv3"] == (None, 7, 7, 12)
    assert shapes["flatten"] == (None, 588)
    assert shapes["fc"] == (None, 200)
    assert shapes["output"] == (None, 10)
    kernels = [
        int(np.prod(model.get_layer(n).weights[0].shape))
        for n in ("conv1", "conv2", "conv3", "fc", "output")
    ]
    assert tuple(kernels) == SEED_WEIGHTS == (400, 3200, 1536, 117600, 2000)
    assert sum(kernels) == 124_736
    assert model.count_params() == SEED_PARAMS == 124_982


def test_generalises_to_other_shapes():
    model = build_small_cnn(input_shape=(8, 8, 1), num_classes=3)
    assert model.output_shape == (None, 3)
    assert model.get_layer("conv3").output.shape == (None, 2, 2, 12)
    rgb = build_small_cnn(input_shape=(32, 32, 3), num_classes=5, batch_norm=True, dropout=0.3)
    out = rgb.predict(np.zeros((2, 32, 32, 3), "float32"), verbose=0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)


def test_bad_arguments():
    with pytest.raises(ValueError, match="one entry per convolution"):
        build_small_cnn(filters=(4, 4))
    with pytest.raises(ValueError, match="num_classes must be an integer >= 2"):
        build_small_cnn(num_classes=1)
    with pytest.raises(ValueError, match="input_shape must be"):
        build_small_cnn(input_shape=(28, 28))
