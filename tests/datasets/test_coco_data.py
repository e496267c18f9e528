"""COCO and VIA folders -> Mask R-CNN batches: masks (polygons, RLE) against pycocotools, the
round trip from make_shapes, letterboxing, augmentation, crowd regions, skips and errors."""

import json
import logging
import pickle
import random

import keras
import numpy as np
import pytest
from PIL import Image

from tests.models.mask_rcnn_small import SMALL
from tfzoo.datasets import (
    DetectionAugmentation,
    export_coco,
    load_coco,
    load_via,
    make_shapes,
)
from tfzoo.datasets.coco_masks import (
    decode_rle,
    encode_rle,
    mask_from_polygons,
    polygons_from_mask,
    rle_from_string,
    rle_to_string,
    tight_boxes,
)
from tfzoo.datasets.letterbox import Letterbox

mask_utils = pytest.importorskip("pycocotools.mask")
# pycocotools' decoding of merged or uncompressed RLEs warns under NumPy 2 (its own code).
pytestmark = pytest.mark.filterwarnings(
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.fixture(scope="module")
def shapes():
    return make_shapes(6, image_size=64, seed=0)


def _random_masks(rng, count):
    """Masks with holes, diagonal contacts and several pieces, plus edge cases."""
    out = [np.ones((1, 1)), np.zeros((3, 5)), np.ones((4, 7))]
    for _ in range(count):
        h, w = rng.integers(1, 24, 2)
        out.append(rng.random((h, w)) < rng.uniform(0.2, 0.9))
    ring = np.zeros((9, 9))
    ring[1:8, 1:8], ring[3:6, 3:6], ring[4, 4] = 1, 0, 1  # a hole holding an island
    out.append(ring)
    return [m.astype(np.uint8) for m in out]


def test_rle_and_polygons_match_pycocotools():
    rng = np.random.default_rng(0)
    mismatched = total = 0
    for mask in _random_masks(rng, 150):
        h, w = mask.shape
        ours = encode_rle(mask)
        theirs = mask_utils.encode(np.asfortranarray(mask))
        string = theirs["counts"].decode()
        assert rle_to_string(ours["counts"]) == string
        assert rle_from_string(string) == ours["counts"]
        assert ours["size"] == list(theirs["size"])
        assert np.array_equal(decode_rle({"size": [h, w], "counts": string}), mask)
        assert np.array_equal(decode_rle(ours), mask)
        from_counts = mask_utils.frPyObjects({"size": [h, w], "counts": ours["counts"]}, h, w)
        assert np.array_equal(mask_utils.decode(from_counts), mask)
        polygons = polygons_from_mask(mask)
        if not mask.any():
            assert polygons is None
            continue
        assert all(len(p) >= 6 and len(p) % 2 == 0 for p in polygons)
        assert np.array_equal(mask_from_polygons(polygons, h, w), mask)  # exact, ours
        coco = mask_utils.decode(mask_utils.merge(mask_utils.frPyObjects(polygons, h, w)))
        mismatched += int((coco != mask).sum())
        total += int(mask.sum())
    # pycocotools' rasteriser fills the traced outlines (holes joined by zero-width cuts
    # included) pixel for pixel as ours does: 0 of ~20,000 mask pixels differ.
    assert total > 10_000 and mismatched == 0
    with pytest.raises(ValueError, match="counts sum to 5 pixels but its size"):
        decode_rle({"size": [2, 3], "counts": [1, 4]})


def _coco_masks(doc, image_id, h, w):
    """pycocotools' decoding of an image's annotations (as its COCO.annToMask)."""
    out = []
    for a in doc["annotations"]:
        if a["image_id"] != image_id:
            continue
        seg = a["segmentation"]
        if isinstance(seg, list):
            seg = mask_utils.merge(mask_utils.frPyObjects(seg, h, w))
        elif isinstance(seg["counts"], list):
            seg = mask_utils.frPyObjects(seg, h, w)
        out.append(mask_utils.decode(seg))
    return out


def _interior(mask):
    """The pixels of a mask whose four neighbours are in it too."""
    inner = mask.astype(bool)
    inner[1:-1, 1:-1] &= inner[:-2, 1:-1] & inner[2:, 1:-1] & inner[1:-1, :-2] & inner[1:-1, 2:]
    inner[[0, -1]] = False
    inner[:, [0, -1]] = False
    return inner


@pytest.mark.parametrize("mask_format", ["polygon", "rle"])
def test_round_trip_make_shapes_export_load(tmp_path, shapes, mask_format):
    path = export_coco(shapes, tmp_path, mask_format=mask_format)
    doc = json.loads(path.read_text())
    assert [c["name"] for c in doc["categories"]] == ["square", "circle", "triangle"]
    assert len(doc["annotations"]) == shapes["num_instances"].sum()
    first = doc["annotations"][0]
    y1, x1, y2, x2 = shapes["boxes"][0, 0]
    assert first["bbox"] == [x1, y1, x2 - x1, y2 - y1]
    assert first["area"] == shapes["masks"][0, 0].sum() and first["iscrowd"] == 0
    # pycocotools reads the file's masks back exactly.
    for i in range(len(shapes["images"])):
        k = shapes["num_instances"][i]
        assert np.array_equal(np.array(_coco_masks(doc, i + 1, 64, 64)), shapes["masks"][i, :k])

    data = load_coco(path, tmp_path / "images", image_size=64, max_instances=4, batch_size=4)
    assert len(data) == 2 and data.class_names == shapes["class_names"]
    assert data.category_ids == {1: 1, 2: 2, 3: 3} and data.dropped_instances == 0
    batches = [data[0], data[1]]
    images = np.concatenate([b[0] for b in batches])
    for key in ("boxes", "classes", "masks"):
        got = np.concatenate([b[1][key] for b in batches])
        assert got.dtype == shapes[key].dtype and np.array_equal(got, shapes[key]), key
    assert np.abs(images - shapes["images"]).max() <= 0.5 / 255 + 1e-6  # PNG: 8 bits
    # At another model size, the original-size path gives the same instances back.
    small = load_coco(path, tmp_path / "images", image_size=32, max_instances=4)
    ex = small.example(2, original=True)
    k = shapes["num_instances"][2]
    assert np.array_equal(ex["masks"], shapes["masks"][2, :k])
    assert np.array_equal(ex["boxes"], shapes["boxes"][2, :k])
    assert np.array_equal(ex["classes"], shapes["classes"][2, :k])
    assert small.info(2)["file_name"] == "000003.png" and small.info(2)["id"] == 3


def _draw_scene(rng, h, w, count):
    """An (h, w) RGB uint8 image with ``count`` flat-coloured ellipses and their masks."""
    yy, xx = np.mgrid[:h, :w] + 0.5
    image = np.full((h, w, 3), 30, np.uint8)
    masks, colours = [], []
    for _ in range(count):
        cy, cx = rng.uniform(0.2, 0.8) * h, rng.uniform(0.2, 0.8) * w
        ry, rx = rng.uniform(0.1, 0.2) * h, rng.uniform(0.1, 0.2) * w
        m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        for prev in masks:
            prev &= ~m  # later ellipses occlude earlier ones
        colour = rng.integers(80, 255, 3)
        image[m] = colour
        masks.append(m)
        colours.append(colour)
    return image, np.array(masks, np.uint8), np.array(colours)


def test_non_square_images_are_letterboxed(tmp_path):
    rng = np.random.default_rng(1)
    sizes = [(97, 143), (300, 200), (50, 64)]
    doc = {"images": [], "annotations": [], "categories": [{"id": 5, "name": "blob"}]}
    scenes = []
    for i, (h, w) in enumerate(sizes):
        image, masks, colours = _draw_scene(rng, h, w, 3)
        Image.fromarray(image).save(tmp_path / f"img{i}.png")
        doc["images"].append({"id": 10 + i, "file_name": f"img{i}.png", "height": h, "width": w})
        scenes.append((image, masks, colours))
        for j, m in enumerate(masks):
            rle = encode_rle(m)
            # Polygons, uncompressed RLE and compressed RLE.
            seg = [
                polygons_from_mask(m),
                rle,
                {"size": rle["size"], "counts": rle_to_string(rle["counts"])},
            ][j]
            doc["annotations"].append(
                {"id": len(doc["annotations"]) + 1, "image_id": 10 + i, "category_id": 5,
                 "segmentation": seg, "iscrowd": 0}
            )  # fmt: skip
    path = tmp_path / "ann.json"
    path.write_text(json.dumps(doc))
    for size in [(64, 64), (72, 96)]:
        data = load_coco(path, tmp_path, image_size=size, max_instances=3, batch_size=3)
        images, targets = data[0]
        assert images.shape == (3, *size, 3) and targets["masks"].shape == (3, 3, *size)
        for i, (_, masks, colours) in enumerate(scenes):
            info = data.info(i)
            lb = info["letterbox"]
            assert (info["id"], info["height"], info["width"]) == (10 + i, *sizes[i])
            got = targets["masks"][i]
            boxes = targets["boxes"][i]
            assert np.array_equal(boxes, tight_boxes(got))
            # The boxes are the original tight boxes scaled, within a pixel.
            want = lb.boxes_to_model(tight_boxes(masks))
            assert np.abs(boxes - want).max() <= 1.0, (size, i, boxes, want)
            # Nothing in the padding; the image's content lies under its masks.
            rh, rw = lb.resized
            assert not got[:, rh:].any() and not got[:, :, rw:].any()
            assert not images[i, rh:].any() and not images[i, :, rw:].any()
            for m, colour in zip(got, colours):
                inner = _interior(_interior(m))  # 2 px in from the (resampled) edges
                assert inner.any() and np.abs(images[i][inner] * 255 - colour).max() < 1
            # Back at the original size the masks cover the originals.
            back = lb.masks_to_original(got)
            inter = (back & masks).sum(axis=(1, 2))
            union = (back | masks).sum(axis=(1, 2))
            assert np.all(inter / union > 0.85), inter / union
            assert (
                np.abs(lb.boxes_to_original(boxes) - tight_boxes(masks)).max() <= 1 / lb.scale + 1
            )


def test_augmentation_boxes_follow_the_masks(shapes):
    """100 random transforms: output shapes fixed, each box the tight box of its mask, nothing
    outside the padded shape, and the masks still lie on their shapes in the image."""
    full = DetectionAugmentation(flip=0.5, scale=(0.5, 1.8), seed=7)
    geometry = DetectionAugmentation(
        flip=0.5, scale=(0.5, 1.8), brightness=0, contrast=0, saturation=0, seed=7
    )
    sizes = [(64, 64), (48, 80), (80, 56)]
    flips = crops = vanished = 0
    for t in range(100):
        i = t % len(shapes["images"])
        k = shapes["num_instances"][i]
        image, masks = shapes["images"][i], shapes["masks"][i, :k]
        size = sizes[t % 3]
        out = full(image, masks, size, rng=full.generator(t))
        plain = geometry(image, masks, size, rng=geometry.generator(t))
        assert out["image"].shape == (*size, 3) and out["masks"].shape == (k, *size)
        assert out["boxes"].shape == (k, 4) and out["image"].dtype == np.float32
        assert 0 <= out["image"].min() and out["image"].max() <= 1
        assert np.array_equal(out["masks"], plain["masks"]) and out["offset"] == plain["offset"]
        keep = out["keep"]
        assert np.array_equal(keep, out["masks"].any(axis=(1, 2)))
        boxes = out["boxes"][keep]
        # Tight box of the mask, to the pixel, inside the output.
        assert np.array_equal(boxes, tight_boxes(out["masks"][keep]))
        assert np.all(boxes[:, :2] >= 0) and np.all(boxes[:, 2] <= size[0])
        assert np.all(boxes[:, 3] <= size[1]) and np.all(boxes[:, 2:] > boxes[:, :2])
        assert np.all(out["boxes"][~keep] == -1)
        # The padding beyond the scaled image stays empty.
        rh = min(size[0], round(64 * out["scale"]) - out["offset"][0])
        rw = min(size[1], round(64 * out["scale"]) - out["offset"][1])
        assert not out["image"][rh + 1 :].any() and not out["image"][:, rw + 1 :].any()
        assert not out["masks"][:, rh + 1 :].any() and not out["masks"][:, :, rw + 1 :].any()
        s, (y0, x0) = out["scale"], out["offset"]
        for j in np.flatnonzero(keep):
            src = masks[j].astype(bool)
            dst = plain["masks"][j].astype(bool)
            ys, xs = np.nonzero(src)
            cy, cx = ys.mean() + 0.5, xs.mean() + 0.5
            if out["flip"]:
                cx = 64 - cx
            b = out["boxes"][j]
            cut = b[0] == 0 or b[1] == 0 or b[2] >= size[0] or b[3] >= size[1]
            if not cut and dst.sum() > 20:  # whole: its centroid maps with the image
                dy, dx = np.nonzero(dst)
                assert abs(dy.mean() + 0.5 - (cy * s - y0)) < 1
                assert abs(dx.mean() + 0.5 - (cx * s - x0)) < 1
            inner = _interior(dst)
            if inner.sum() > 10:  # the shape's flat colour is under its mask
                colour = image[src].mean(axis=0)
                assert np.abs(plain["image"][inner].mean(axis=0) - colour).max() < 0.06
        flips += out["flip"]
        crops += (y0, x0) != (0, 0)
        vanished += (~keep).sum()
    assert 30 < flips < 70 and crops > 20 and vanished > 0


def _via_files(tmp_path, rng):
    """Two images with VIA polygon regions (VIA 1: regions an object) and their masks."""
    entries, truth = {}, []
    for i, (h, w) in enumerate([(60, 90), (80, 50)]):
        image, masks, _ = _draw_scene(rng, h, w, 2)
        name = f"photo{i}.png"
        Image.fromarray(image).save(tmp_path / name)
        regions = {}
        for j, m in enumerate(masks):
            # Largest outline of a hole-free piece: a single VIA polygon.
            poly = np.array(max(polygons_from_mask(m), key=len)).reshape(-1, 2)
            regions[str(j)] = {
                "shape_attributes": {
                    "name": "polygon",
                    "all_points_x": poly[:, 0].astype(int).tolist(),
                    "all_points_y": poly[:, 1].astype(int).tolist(),
                },
                "region_attributes": {"kind": ["cat", "dog"][(i + j) % 2]},
            }
            truth.append((i, ["cat", "dog"][(i + j) % 2], mask_from_polygons([poly.ravel()], h, w)))
        regions["9"] = {
            "shape_attributes": {"name": "circle", "cx": 5, "cy": 5, "r": 3},
            "region_attributes": {"kind": "cat"},
        }
        entries[f"{name}1234"] = {"filename": name, "size": 1234, "regions": regions}
    return entries, truth


def test_via_file(tmp_path):
    entries, truth = _via_files(tmp_path, np.random.default_rng(2))
    # A rectangle, and a dropdown-style class, in the first image.
    first = entries[next(iter(entries))]["regions"]
    first["5"] = {
        "shape_attributes": {"name": "rect", "x": 2, "y": 3, "width": 4, "height": 5},
        "region_attributes": {"kind": {"dog": True, "cat": False}},
    }
    path = tmp_path / "via.json"
    path.write_text(json.dumps(entries))
    data = load_via(path, tmp_path, class_attribute="kind", image_size=(64, 96), max_instances=4)
    assert data.class_names == ("background", "cat", "dog") and data.skipped == {"shape_circle": 2}
    assert data.image_ids == [1, 2] and data.category_ids is None
    rect = np.zeros((60, 90), np.uint8)
    rect[3:8, 2:6] = 1
    for i in range(2):
        ex = data.example(i, original=True)
        want = [(c, m) for j, c, m in truth if j == i] + ([("dog", rect)] if i == 0 else [])
        assert [data.class_names[c] for c in ex["classes"]] == [c for c, _ in want]
        assert np.array_equal(ex["masks"], np.array([m for _, m in want]))
    images, targets = data[0]
    assert images.shape == (2, 64, 96, 3) and targets["masks"].shape == (2, 4, 64, 96)
    assert np.array_equal(targets["classes"][0], [1, 2, 2, -1])
    # VIA 2 project file, regions a list, one class for all (the balloon sample's layout).
    for entry in entries.values():
        entry["regions"] = list(entry["regions"].values())
    path.write_text(json.dumps({"_via_settings": {}, "_via_img_metadata": entries}))
    one = load_via(path, tmp_path, class_attribute=None, default_class="balloon", categories=None)
    assert one.class_names == ("background", "balloon") and one.num_classes == 1
    assert np.array_equal(one[0][1]["classes"][:, :3], [[1, 1, 1], [1, 1, -1]])
    only = load_via(path, tmp_path, class_attribute="kind", categories=["dog"])
    assert only.class_names == ("background", "dog")
    assert only.skipped == {"shape_circle": 2, "category_not_selected": 2}
    del entries[next(iter(entries))]["regions"][0]["region_attributes"]["kind"]
    path.write_text(json.dumps(entries))
    with pytest.raises(ValueError, match="region 0 has no 'kind' in its region_attributes"):
        load_via(path, tmp_path, class_attribute="kind")


def _shapes_doc(tmp_path, shapes):
    path = export_coco(shapes, tmp_path)
    return path, json.loads(path.read_text())


def test_categories_crowd_max_instances_and_skips(tmp_path, shapes, caplog):
    path, doc = _shapes_doc(tmp_path, shapes)
    new_id = {1: 7, 2: 3, 3: 12}  # non-contiguous COCO ids
    for c in doc["categories"]:
        c["id"] = new_id[c["id"]]
    for a in doc["annotations"]:
        a["category_id"] = new_id[a["category_id"]]
    crowd = np.zeros((64, 64), np.uint8)
    crowd[40:60, 2:30] = 1
    doc["annotations"] += [
        {"id": 900, "image_id": 1, "category_id": 3, "iscrowd": 1, "area": 560,
         "segmentation": encode_rle(crowd)},
        {"id": 901, "image_id": 2, "category_id": 7, "iscrowd": 0,
         "segmentation": [[1, 1, 5, 1]]},  # 2 points: no mask left
        {"id": 902, "image_id": 2, "category_id": 7, "iscrowd": 0,
         "segmentation": [[1, 1, 9, 1, 9, 4, 1, 4], [20, 20, 22, 22]]},
    ]  # fmt: skip
    path.write_text(json.dumps(doc))
    images = tmp_path / "images"
    counts = shapes["num_instances"]
    with caplog.at_level(logging.WARNING, logger="tfzoo.datasets.coco"):
        data = load_coco(
            path, images, image_size=64, max_instances=2, batch_size=6, include_crowd=True,
            categories=["triangle", 7, "circle"],
        )  # fmt: skip
    # Classes 1..3 in the order asked for, COCO ids and names kept.
    assert data.class_names == ("background", "triangle", "square", "circle")
    assert data.category_ids == {1: 12, 2: 7, 3: 3}
    assert data.skipped == {"polygon_under_3_points": 2, "no_mask": 1}
    # Image 2 got a square of 8x3 pixels: 2 more instances than before there.
    extra = np.array([0, 1, 0, 0, 0, 0])
    over = np.maximum(counts + extra - 2, 0)
    assert data.dropped_instances == over.sum() > 0
    assert data.dropped_by_image == {i + 1: int(v) for i, v in enumerate(over) if v}
    assert f"dropped {over.sum()} instance(s)" in caplog.text and "max_instances=2" in caplog.text
    x, y = data[0]
    assert set(y) == {"boxes", "classes", "masks", "crowd"}
    assert np.array_equal(y["crowd"][0], crowd) and not y["crowd"][1:].any()
    remap = {1: 2, 2: 3, 3: 1, -1: -1}
    for i in range(6):
        k = counts[i]
        classes = [remap[c] for c in shapes["classes"][i, :k]]
        masks = shapes["masks"][i, :k]
        if i == 1:
            square = np.zeros((64, 64), np.uint8)
            square[1:4, 1:9] = 1
            classes, masks = classes + [2], np.concatenate([masks, square[None]])
        # The largest two, in their order.
        keep = np.sort(np.argsort(-masks.sum(axis=(1, 2)), kind="stable")[:2])
        n = len(keep)
        assert y["classes"][i, :n].tolist() == [classes[j] for j in keep]
        assert np.array_equal(y["masks"][i, :n], masks[keep])
        assert np.all(y["classes"][i, n:] == -1) and not y["masks"][i, n:].any()
    # Crowd regions are no targets: image 1 has its own instances only.
    assert y["classes"][0, : min(2, counts[0])].tolist() == [
        remap[c] for c in shapes["classes"][0, : min(2, counts[0])]
    ]
    # Only the unselected categories' annotations are skipped.
    squares = load_coco(path, images, image_size=64, max_instances=4, categories=[7])
    n_squares = int((shapes["classes"] == 1).sum())
    assert squares.skipped["category_not_selected"] == len(doc["annotations"]) - 2 - n_squares
    assert squares.class_names == ("background", "square")
    assert not squares.example(0)["crowd"].any()  # a crowd of circles ignores no squares


def test_shuffling_and_augmentation_are_reproducible(tmp_path, shapes):
    path, _ = _shapes_doc(tmp_path, shapes)
    np_state, py_state = np.random.get_state(), random.getstate()  # noqa: NPY002

    def make(seed, aug_seed=0):
        aug = DetectionAugmentation(seed=aug_seed)
        return load_coco(
            path, tmp_path / "images", image_size=48, max_instances=4, batch_size=2,
            shuffle=True, seed=seed, augment=aug,
        )  # fmt: skip

    a, b, c = make(1), make(1), make(2)
    orders = [np.concatenate([d.batch_indices(i) for i in range(len(d))]) for d in (a, b, c)]
    assert sorted(orders[0]) == list(range(6))
    assert np.array_equal(orders[0], orders[1]) and not np.array_equal(orders[0], orders[2])
    for key in ("boxes", "classes", "masks"):
        assert np.array_equal(a[1][1][key], b[1][1][key])
    assert np.array_equal(a[1][0], b[1][0])
    assert not np.array_equal(make(1, aug_seed=5)[1][0], a[1][0])
    before = a[0][0]
    a.on_epoch_end()
    assert a.epoch == 1 and not np.array_equal(a.batch_indices(0), orders[0][:2])
    assert not np.array_equal(a[0][0], before)
    assert [r["id"] for r in a.batch_info(0)] == [int(i) + 1 for i in a.batch_indices(0)]
    # Picklable (worker processes), and the copy gives the same batches.
    copy = pickle.loads(pickle.dumps(a))
    assert np.array_equal(copy[1][1]["masks"], a[1][1]["masks"])
    # No global random state touched.
    assert random.getstate() == py_state
    after = np.random.get_state()  # noqa: NPY002
    assert after[0] == np_state[0] and np.array_equal(after[1], np_state[1])


def test_bad_input_is_refused_with_what_was_received(tmp_path, shapes):
    path, doc = _shapes_doc(tmp_path, shapes)
    images = tmp_path / "images"

    def load(document, **kwargs):
        bad = tmp_path / "bad.json"
        bad.write_text(document if isinstance(document, str) else json.dumps(document))
        return load_coco(bad, images, **kwargs)

    with pytest.raises(FileNotFoundError, match="annotation_file '.*nope.json' does not exist"):
        load_coco(tmp_path / "nope.json", images)
    with pytest.raises(FileNotFoundError, match="image_dir '.*nowhere' does not exist"):
        load_coco(path, tmp_path / "nowhere")
    with pytest.raises(ValueError, match="is not valid JSON"):
        load('{"images": [')
    with pytest.raises(ValueError, match="'annotations' is missing .keys: .'categories', 'images'"):
        load({"images": [], "categories": []})
    with pytest.raises(ValueError, match="has an empty category list"):
        load({**doc, "categories": []})
    with pytest.raises(ValueError, match="has an empty 'annotations' list"):
        load({**doc, "annotations": []})
    wrong = dict(doc["annotations"][0], image_id=77)
    with pytest.raises(ValueError, match="annotation 1 refers to image id 77, which is not in"):
        load({**doc, "annotations": [wrong]})
    wrong = dict(doc["annotations"][0], category_id=9)
    with pytest.raises(ValueError, match=r"category_id 9, which is not in 'categories' \(ids"):
        load({**doc, "annotations": [wrong]})
    with pytest.raises(ValueError, match="category 'dog' is not in .*'square'"):
        load_coco(path, images, categories=["square", "dog"])
    with pytest.raises(ValueError, match="categories must name at least one category, got an"):
        load_coco(path, images, categories=[])
    wrong = dict(doc["annotations"][0], segmentation={"size": [5, 5], "counts": [25]})
    with pytest.raises(ValueError, match=r"RLE's size \[5, 5\] is not the image's"):
        load({**doc, "annotations": [wrong]})
    missing = doc["images"] + [{"id": 99, "file_name": "gone.png", "height": 64, "width": 64}]
    with pytest.raises(FileNotFoundError, match=r"1 image file\(s\) .* missing .*\['gone.png'\]"):
        load({**doc, "images": missing})
    liar = [dict(doc["images"][0], height=65)] + doc["images"][1:]
    data = load({**doc, "images": liar}, batch_size=1)
    with pytest.raises(ValueError, match="is 64x64 .height x width. but the annotations say 65x64"):
        data[0]
    with pytest.raises(ValueError, match="max_instances must be a positive integer, got 0"):
        load_coco(path, images, max_instances=0)
    with pytest.raises(ValueError, match=r"image_size must be an int or \(height, width\), got"):
        load_coco(path, images, image_size=(1, 2, 3))
    with pytest.raises(
        ValueError, match="mask_format must be one of .'polygon', 'rle'., got 'png'"
    ):
        export_coco(shapes, tmp_path, mask_format="png")
    with pytest.raises(ValueError, match="float images must be finite and in .0, 1.; image 0"):
        export_coco({**shapes, "images": shapes["images"] * 2}, tmp_path / "x")
    with pytest.raises(ValueError, match="scale must be .low, high. with 0 < low <= high, got"):
        DetectionAugmentation(scale=(2, 1))


def test_a_loaded_folder_trains_mask_rcnn(tmp_path):
    """The PyDataset goes straight into model.fit on the current backend (non-square images on
    disk, letterboxed to 32 px, augmented, with the extra crowd entry). Like the rest of
    tests/datasets/ it is deselected off TensorFlow by conftest (on JAX the jitted step costs
    ~50 CPU-s); add it to conftest's PORTABLE to run it there (it passes)."""
    from tfzoo.models import build_mask_rcnn

    data = make_shapes(2, image_size=48, seed=3)
    data["images"] = data["images"][:, :, :40]  # 48 x 40 on disk
    data["masks"] = data["masks"][:, :, :, :40]
    del data["boxes"]
    keep = data["masks"].any(axis=(2, 3))
    data["num_instances"] = keep.sum(axis=1)
    order = np.argsort(~keep, axis=1, kind="stable")
    data["masks"] = np.take_along_axis(data["masks"], order[:, :, None, None], axis=1)
    data["classes"] = np.take_along_axis(data["classes"], order, axis=1)
    path = export_coco(data, tmp_path)
    train = load_coco(
        path, tmp_path / "images", image_size=32, max_instances=4, batch_size=2,
        augment=DetectionAugmentation(seed=0), shuffle=True, seed=0, include_crowd=True,
    )  # fmt: skip
    assert Letterbox.fit((48, 40), (32, 32)).resized == (32, 27)
    model = build_mask_rcnn(3, (32, 32, 3), fpn_filters=8, seed=0, **SMALL)
    # One step: eager on TensorFlow (tracing the step costs ~5x the step), jitted elsewhere
    # (JAX's op-by-op eager mode is ~5x slower than its compile).
    model.compile(keras.optimizers.Adam(1e-3), run_eagerly=keras.backend.backend() == "tensorflow")
    before = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    history = model.fit(train, epochs=1, verbose=0)  # one step: 2 images, batches of 2
    assert len(train) == 1 and np.isfinite(history.history["loss"][-1])
    after = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert any(not np.allclose(a, b) for a, b in zip(after, before))
