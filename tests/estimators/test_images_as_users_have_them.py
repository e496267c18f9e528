"""CNNClassifier on images as users have them: uint8 pixels, one image (issue #14 item 7)."""

import numpy as np
import pytest

from tfzoo import CNNClassifier
from tfzoo.datasets import load_digits_images


@pytest.fixture(scope="module")
def digits_uint8():
    images, labels = load_digits_images()
    images, labels = images[:300], labels[:300]
    pixels = np.round(np.asarray(images) * 255).astype(np.uint8)  # as image files store them
    return pixels, labels


def small(**kw):
    params = dict(filters=(4, 4, 4), dense_units=16, epochs=3, batch_size=32, random_state=0)
    return CNNClassifier(**{**params, **kw})


def test_uint8_pixels_train_as_the_same_images_in_0_1(digits_uint8):
    pixels, labels = digits_uint8
    as_uint8 = small().fit(pixels, labels)
    as_float = small().fit(pixels.astype(np.float32) / 255.0, labels)
    np.testing.assert_allclose(
        as_uint8.predict_proba(pixels),
        as_float.predict_proba(pixels.astype(np.float32) / 255.0),
        atol=1e-5,
    )


def test_one_image_without_its_batch_axis_is_refused_with_a_hint(digits_uint8):
    pixels, labels = digits_uint8
    clf = small(epochs=1).fit(pixels, labels)
    with pytest.raises(ValueError, match=r"got one image of shape \(8, 8\).*X\[np.newaxis\]"):
        clf.predict(pixels[0, ..., 0])
    with pytest.raises(ValueError, match=r"got one image of shape \(8, 8, 1\)"):
        clf.predict(pixels[0])
    assert clf.predict(pixels[0][np.newaxis]).shape == (1,)
