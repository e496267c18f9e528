import gzip

import numpy as np
import pytest

from tfzoo.datasets import (
    load_digits_images,
    load_mnist,
    load_pathology,
    load_sunspots,
    load_text,
    make_price_series,
    make_seasonal_series,
    make_windows,
    read_idx,
)


def _write_idx(path, array, compress):
    codes = {np.uint8: 0x08, np.int32: 0x0C}
    header = bytes([0, 0, codes[array.dtype.type], array.ndim])
    header += b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(array.dtype.newbyteorder(">")).tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


@pytest.mark.parametrize("compress", [True, False])
def test_mnist_from_idx_files(tmp_path, compress):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(50, 28, 28)).astype(np.uint8)
    labels = np.repeat(np.arange(10), 5).astype(np.uint8)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", images, compress)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels, compress)
    (x_tr, y_tr), (x_te, y_te) = load_mnist(tmp_path, test_size=10, seed=0)
    assert x_tr.shape == (40, 28, 28) and x_te.shape == (10, 28, 28)
    assert sorted(np.concatenate([y_tr, y_te]).tolist()) == sorted(labels.tolist())
    assert set(y_te.tolist()) == set(range(10))  # stratified
    # with a training set present, both are returned as they are
    _write_idx(tmp_path / "train-images-idx3-ubyte", images[:20], compress)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", labels[:20], compress)
    (x_tr, y_tr), (x_te, y_te) = load_mnist(tmp_path)
    np.testing.assert_array_equal(x_tr, images[:20])
    np.testing.assert_array_equal(x_te, images)


def test_idx_errors(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    trunc = tmp_path / "trunc"
    _write_idx(trunc, np.zeros((3, 2), np.uint8), False)
    trunc.write_bytes(trunc.read_bytes()[:-1])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(trunc)
    with pytest.raises(FileNotFoundError, match="t10k-images"):
        load_mnist(tmp_path)


def test_digits_and_pathology():
    images, labels = load_digits_images()
    assert images.shape == (1797, 8, 8, 1) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0
    X, y = load_pathology()
    assert X.shape == (569, 30) and y.name == "pathology"
    assert y.sum() == 212  # malignant cases


def test_make_windows():
    series = np.arange(20, dtype=float)
    X, y = make_windows(series, window=5, horizon=2)
    assert X.shape == (14, 5, 1) and y.shape == (14, 2)
    np.testing.assert_array_equal(X[0, :, 0], [0, 1, 2, 3, 4])
    np.testing.assert_array_equal(y[0], [5, 6])
    multi = np.stack([series, -series], axis=1)
    X, y = make_windows(multi, window=3, horizon=2, target_columns=[1], stride=2)
    np.testing.assert_array_equal(y[1], [-5, -6])
    with pytest.raises(ValueError, match="too short"):
        make_windows(series[:4], window=5)


def test_series_generators_and_sunspots():
    assert make_seasonal_series(300, seed=1).shape == (300,)
    prices = make_price_series(500, seed=2)
    assert prices.shape == (500,) and prices.min() > 0
    years, values = load_sunspots()
    assert years[0] == 1700 and len(values) == 309


def test_load_text(tmp_path):
    text = load_text(max_chars=5000)
    assert len(text) == 5000 and "def " in text
    f = tmp_path / "t.txt"
    f.write_text("hello world", encoding="utf-8")
    assert load_text(f) == "hello world"
