import numpy as np
import pytest

from tfzoo.layers import ConvBlock
from tfzoo.testing import run_layer_test


def test_conv_block_contract():
    run_layer_test(
        ConvBlock,
        {"filters": 4, "kernel_size": 3, "strides": 2},
        input_shape=(2, 16, 16, 3),
        expected_output_shape=(2, 8, 8, 4),
        expected_num_trainable_weights=2,
    )


def test_conv_block_with_norm_pool_dropout():
    layer = run_layer_test(
        ConvBlock,
        {"filters": 4, "kernel_size": 3, "batch_norm": True, "pool_size": 2, "dropout": 0.2},
        input_shape=(2, 16, 16, 1),
        expected_output_shape=(2, 8, 8, 4),
        expected_num_trainable_weights=3,  # kernel, gamma, beta (no conv bias)
    )
    assert layer.conv.use_bias is False


def test_conv_block_bad_args():
    with pytest.raises(ValueError, match="filters must be a positive integer"):
        ConvBlock(0, 3)
    with pytest.raises(ValueError, match="dropout must be in"):
        ConvBlock(2, 3, dropout=1.0)
    assert ConvBlock(2, 3)(np.zeros((1, 5, 5, 1), "float32")).shape == (1, 5, 5, 2)
