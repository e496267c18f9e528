import numpy as np
import pytest

from tfzoo.datasets import make_shapes

KEYS = ("images", "boxes", "classes", "masks", "num_instances")


def _tight_boxes(masks):
    """[y1, x1, y2, x2] (exclusive) of each non-empty mask, computed independently."""
    boxes = []
    for mask in masks:
        ys, xs = np.nonzero(mask)
        boxes.append([ys.min(), xs.min(), ys.max() + 1, xs.max() + 1])
    return np.array(boxes, np.float32).reshape(-1, 4)


def test_format_and_padding():
    n, size, m = 12, 48, 3
    data = make_shapes(n, image_size=size, max_instances=m, seed=0)
    assert data["class_names"] == ("background", "square", "circle", "triangle")
    assert data["images"].shape == (n, size, size, 3) and data["images"].dtype == np.float32
    assert data["boxes"].shape == (n, m, 4) and data["boxes"].dtype == np.float32
    assert data["classes"].shape == (n, m) and data["classes"].dtype == np.int32
    assert data["masks"].shape == (n, m, size, size) and data["masks"].dtype == np.uint8
    assert data["num_instances"].shape == (n,) and data["num_instances"].dtype == np.int32
    assert 0.0 <= data["images"].min() and data["images"].max() <= 1.0
    assert set(np.unique(data["masks"]).tolist()) <= {0, 1}
    counts = data["num_instances"]
    assert counts.min() >= 1 and counts.max() <= m
    for i, k in enumerate(counts):
        # valid rows first, padding after
        assert set(data["classes"][i, :k].tolist()) <= {1, 2, 3}
        assert np.all(data["masks"][i, :k].sum(axis=(1, 2)) > 0)
        assert np.all(data["classes"][i, k:] == -1)
        assert np.all(data["boxes"][i, k:] == -1)
        assert not data["masks"][i, k:].any()
    # the background is not one flat colour (gradient and noise)
    assert data["images"][:, :4, :4].std(axis=(1, 2)).max(axis=-1).min() > 0


def test_deterministic_for_a_seed():
    a = make_shapes(6, image_size=32, seed=7)
    b = make_shapes(6, image_size=32, seed=7)
    c = make_shapes(6, image_size=32, seed=8)
    for key in KEYS:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["images"], c["images"])
    assert not np.array_equal(a["masks"].sum(axis=1), c["masks"].sum(axis=1))


def test_ground_truth_is_the_visible_part():
    data = make_shapes(40, image_size=64, seed=3)
    masks, counts = data["masks"], data["num_instances"]
    # occlusion: masks of one image never overlap
    assert masks.sum(axis=1, dtype=np.int32).max() == 1
    min_area = 64 * 64 // 256
    for i, k in enumerate(counts):
        np.testing.assert_array_equal(data["boxes"][i, :k], _tight_boxes(masks[i, :k]))
        assert np.all(masks[i, :k].sum(axis=(1, 2)) >= min_area)


def test_min_area_drops_only_the_ground_truth():
    kept = {}
    for min_area in (0, None, 300):
        data = make_shapes(40, image_size=64, seed=5, min_area=min_area)
        kept[min_area] = data
        areas = data["masks"].sum(axis=(2, 3))
        valid = data["classes"] > 0
        assert np.all(areas[valid] >= (min_area or 1))
    # the pictures do not depend on the threshold; a larger threshold keeps fewer instances
    np.testing.assert_array_equal(kept[0]["images"], kept[300]["images"])
    totals = [kept[a]["num_instances"].sum() for a in (0, None, 300)]
    assert totals[0] >= totals[1] > totals[2]
    assert (kept[300]["num_instances"] == 0).any() or totals[2] < totals[0]


def test_every_class_appears():
    data = make_shapes(200, image_size=32, seed=0)
    classes = data["classes"][data["classes"] > 0]
    share = np.bincount(classes, minlength=4)[1:] / classes.size
    assert np.all(share > 0.2), share


def test_one_instance_per_image():
    data = make_shapes(10, image_size=16, max_instances=1, seed=1)
    assert np.all(data["num_instances"] == 1)
    assert data["masks"].shape == (10, 1, 16, 16)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n": 0}, "n must be a positive integer, got 0"),
        ({"n": 2.5}, "n must be a positive integer"),
        ({"n": 2, "image_size": 8}, "image_size must be an integer >= 16, got 8"),
        ({"n": 2, "max_instances": 0}, "max_instances must be a positive integer, got 0"),
        ({"n": 2, "min_area": -1}, "min_area must be >= 0, got -1"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_shapes(**kwargs)
