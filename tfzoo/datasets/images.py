"""Image data: MNIST (online or IDX files) and scikit-learn's bundled digits."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path):
    """Read an IDX file (MNIST's format), gzip-compressed or not, into an array.

    Raises ``ValueError`` naming the file when its header is not IDX.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4]!r})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path} is truncated: header needs {header} bytes")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(dims)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(
            f"{path} is truncated or padded: {len(data) - header} data bytes for shape "
            f"{dims} ({expected} expected)"
        )
    return (
        np.frombuffer(data, dtype=dtype, offset=header)
        .reshape(dims)
        .astype(dtype.newbyteorder("="))
    )


def _find(data_dir, stem):
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        candidate = Path(data_dir) / name
        if candidate.exists():
            return candidate
    return None


def load_mnist(data_dir=None, test_size=2000, seed=0):
    """MNIST digits as ``((x_train, y_train), (x_test, y_test))``, uint8 28x28 images.

    Without ``data_dir`` this is ``keras.datasets.mnist.load_data()`` (downloads
    once, needs internet). With ``data_dir`` it reads the IDX files there
    (``train-images-idx3-ubyte[.gz]``, ``train-labels-idx1-ubyte[.gz]``,
    ``t10k-images-idx3-ubyte[.gz]``, ``t10k-labels-idx1-ubyte[.gz]``). When only
    the 10,000 test images are present, they are split into train and test
    (``test_size`` rows held out, stratified, with ``seed``), e.g. 8,000 / 2,000.
    """
    if data_dir is None:
        import keras

        return keras.datasets.mnist.load_data()
    data_dir = Path(os.path.expanduser(str(data_dir)))
    if not data_dir.is_dir():
        raise FileNotFoundError(f"MNIST data_dir {data_dir} does not exist")
    files = {
        key: _find(data_dir, stem)
        for key, stem in {
            "x_train": "train-images-idx3-ubyte",
            "y_train": "train-labels-idx1-ubyte",
            "x_test": "t10k-images-idx3-ubyte",
            "y_test": "t10k-labels-idx1-ubyte",
        }.items()
    }
    if files["x_test"] is None or files["y_test"] is None:
        raise FileNotFoundError(
            f"no t10k-images-idx3-ubyte[.gz] / t10k-labels-idx1-ubyte[.gz] in {data_dir}"
        )
    x_test, y_test = read_idx(files["x_test"]), read_idx(files["y_test"])
    _check_pair(x_test, y_test, "t10k")
    if files["x_train"] is not None and files["y_train"] is not None:
        x_train, y_train = read_idx(files["x_train"]), read_idx(files["y_train"])
        _check_pair(x_train, y_train, "train")
        return (x_train, y_train), (x_test, y_test)
    from sklearn.model_selection import train_test_split

    x_train, x_test, y_train, y_test = train_test_split(
        x_test, y_test, test_size=test_size, random_state=seed, stratify=y_test
    )
    return (x_train, y_train), (x_test, y_test)


def _check_pair(x, y, name):
    if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
        raise ValueError(f"MNIST {name} files disagree: images {x.shape}, labels {y.shape}")


def load_digits_images():
    """scikit-learn's bundled 8x8 digits (1,797 images, offline) as images.

    Returns:
        ``(images, labels)``: float32 ``(1797, 8, 8, 1)`` scaled to [0, 1], int labels.
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)[..., None]
    return images, digits.target.astype(np.int64)
