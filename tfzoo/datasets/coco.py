"""Instance-segmentation data sets on disk: COCO and VIA annotation files in, batches for
``MaskRCNN.fit`` out (a ``keras.utils.PyDataset``, on every backend); and arrays out to a COCO
folder (:func:`export_coco`)."""

from __future__ import annotations

import json
import logging
import math
import numbers
import threading
from pathlib import Path

import keras
import numpy as np

from tfzoo._validation import check_int
from tfzoo.datasets.coco_masks import (
    decode_rle,
    encode_rle,
    mask_from_polygons,
    polygons_from_mask,
    rle_area,
    rle_to_string,
    tight_boxes,
)
from tfzoo.datasets.detection_augmentation import DetectionAugmentation
from tfzoo.datasets.letterbox import Letterbox

logger = logging.getLogger(__name__)

MASK_FORMATS = ("polygon", "rle")


# -- export -----------------------------------------------------------------------------------
def _data_array(data, key, ndim):
    if key not in data:
        raise ValueError(f"data has no {key!r} entry; it has {sorted(data)}")
    arr = np.asarray(data[key])
    if arr.ndim not in ndim:
        raise ValueError(
            f"data[{key!r}] must have {' or '.join(map(str, ndim))} dimensions, got shape "
            f"{arr.shape}"
        )
    return arr


def _to_uint8(image, i):
    if image.dtype == np.uint8:
        return image
    if not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"images must be float in [0, 1] or uint8, got dtype {image.dtype}")
    if not np.isfinite(image).all() or image.min() < 0 or image.max() > 1:
        raise ValueError(
            f"float images must be finite and in [0, 1]; image {i} has values in "
            f"[{np.nanmin(image):.3g}, {np.nanmax(image):.3g}]"
        )
    return np.round(image * 255).astype(np.uint8)


def export_coco(
    data,
    directory,
    *,
    mask_format="polygon",
    annotation_file="annotations.json",
    image_dir="images",
):
    """Write arrays in the ``make_shapes`` format as a COCO folder: PNG images and one annotation
    file.

    Image ``i`` becomes ``directory/image_dir/{i + 1:06d}.png`` (uint8 RGB; float images in
    [0, 1] are rounded to 0..255) with COCO image id ``i + 1``; each of its first
    ``num_instances[i]`` instances one annotation: ``id`` (from 1), ``image_id``,
    ``category_id`` (the class id), ``bbox`` ``[x, y, width, height]`` (from ``data["boxes"]``
    ``[y1, x1, y2, x2]``, exclusive, when given, else the mask's tight box), ``area`` (mask
    pixels), ``iscrowd`` 0 and ``segmentation``:

    - ``mask_format="polygon"``: outlines along the pixel corners. A mask without holes is one
      polygon per outline (a union, as COCO reads them); a mask with holes, which COCO polygons
      cannot hold as a union, is one polygon in which each hole's outline is joined to the outer
      one by a zero-width cut walked there and back, so an even-odd fill (:func:`load_coco`'s,
      and pycocotools') gives the mask back exactly. No instance falls back to RLE.
    - ``mask_format="rle"``: COCO's compressed RLE string.

    Categories are ``{"id": c, "name": class_names[c]}`` for ``c`` in ``1 .. len(class_names) -
    1`` (``class_names[0]`` is the background), or ``"class_<c>"`` for the ids used when
    ``data`` has no ``"class_names"``.

    Args:
        data: a dict with ``"images"`` ``(n, H, W, 3)`` (float in [0, 1] or uint8) or
            ``(n, H, W)``, ``"masks"`` ``(n, M, H, W)`` (0/1), ``"classes"`` ``(n, M)`` (ids >= 1
            on valid rows), ``"num_instances"`` ``(n,)`` (default: the rows with a class >= 1),
            and optionally ``"boxes"`` ``(n, M, 4)`` and ``"class_names"``, as
            :func:`~tfzoo.datasets.make_shapes` returns.
        directory: folder to write into (made if missing; files of the same names are
            replaced).
        mask_format: ``"polygon"`` or ``"rle"``.
        annotation_file: name of the annotation file inside ``directory``.
        image_dir: name of the image folder inside ``directory``.

    Returns:
        The ``pathlib.Path`` of the annotation file; the images are in
        ``Path(directory) / image_dir``. Load them back with
        ``load_coco(path, Path(directory) / image_dir, ...)``.

    Example:

    >>> data = make_shapes(4, image_size=64, seed=0)
    >>> path = export_coco(data, tmp_dir)  # doctest: +SKIP
    >>> train = load_coco(path, tmp_dir / "images", image_size=64)  # doctest: +SKIP
    """
    if mask_format not in MASK_FORMATS:
        raise ValueError(f"mask_format must be one of {MASK_FORMATS}, got {mask_format!r}")
    if not isinstance(data, dict):
        raise ValueError(
            f"data must be a dict of arrays (as make_shapes returns), got {type(data)}"
        )
    images = _data_array(data, "images", (3, 4))
    masks = _data_array(data, "masks", (4,))
    classes = _data_array(data, "classes", (2,)).astype(np.int64)
    n, m = classes.shape
    if "num_instances" in data:
        counts = np.asarray(data["num_instances"]).astype(np.int64)
    else:
        counts = (classes >= 1).sum(axis=1)
    boxes = np.asarray(data["boxes"], np.float64) if "boxes" in data else None
    shapes = {"images": images.shape[0], "masks": masks.shape[0], "num_instances": len(counts)}
    if boxes is not None:
        shapes["boxes"] = boxes.shape[0]
    if any(v != n for v in shapes.values()):
        raise ValueError(f"data arrays disagree on the number of images: classes {n}, {shapes}")
    if masks.shape[1] != m or masks.shape[2:] != images.shape[1:3]:
        raise ValueError(
            f"data['masks'] must be (n, {m}, H, W) with the images' H, W {images.shape[1:3]}, "
            f"got {masks.shape}"
        )
    if boxes is not None and boxes.shape[1:] != (m, 4):
        raise ValueError(f"data['boxes'] must be (n, {m}, 4), got {boxes.shape}")
    if counts.ndim != 1 or counts.min(initial=0) < 0 or counts.max(initial=0) > m:
        raise ValueError(f"data['num_instances'] must lie in [0, {m}], got {counts.tolist()}")
    valid = np.arange(m)[None, :] < counts[:, None]
    if np.any(classes[valid] < 1):
        raise ValueError("classes of valid instances must be >= 1 (0 is the background)")
    if "class_names" in data:
        names = [str(v) for v in data["class_names"]]
        top = int(classes[valid].max(initial=0))
        if top >= len(names):
            raise ValueError(f"data has class id {top} but only {len(names)} class_names")
        categories = [{"id": c, "name": names[c]} for c in range(1, len(names))]
    else:
        categories = [{"id": int(c), "name": f"class_{c}"} for c in np.unique(classes[valid])]

    from PIL import Image

    root = Path(directory)
    folder = root / image_dir
    folder.mkdir(parents=True, exist_ok=True)
    height, width = images.shape[1:3]
    coco_images, annotations = [], []
    for i in range(n):
        name = f"{i + 1:06d}.png"
        Image.fromarray(_to_uint8(images[i], i)).save(folder / name)
        coco_images.append({"id": i + 1, "file_name": name, "height": height, "width": width})
        k = int(counts[i])
        own = masks[i, :k] != 0
        tight = tight_boxes(own)
        for j in range(k):
            if not own[j].any():
                raise ValueError(f"instance {j} of image {i} has an empty mask")
            if mask_format == "polygon":
                segmentation = polygons_from_mask(own[j])
            else:
                rle = encode_rle(own[j])
                segmentation = {"size": rle["size"], "counts": rle_to_string(rle["counts"])}
            y1, x1, y2, x2 = (float(v) for v in (boxes[i, j] if boxes is not None else tight[j]))
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": i + 1,
                    "category_id": int(classes[i, j]),
                    "bbox": [x1, y1, x2 - x1, y2 - y1],
                    "area": int(own[j].sum()),
                    "iscrowd": 0,
                    "segmentation": segmentation,
                }
            )
    path = root / annotation_file
    document = {
        "info": {"description": "written by tfzoo.datasets.export_coco"},
        "licenses": [],
        "images": coco_images,
        "annotations": annotations,
        "categories": categories,
    }
    with open(path, "w") as f:
        json.dump(document, f)
    return path


# -- parsing ----------------------------------------------------------------------------------
def _read_json(path, what):
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist or is not a file")
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{what} {str(path)!r} is not valid JSON: {exc}") from None


def _check_dir(image_dir):
    image_dir = Path(image_dir)
    if not image_dir.is_dir():
        raise FileNotFoundError(f"image_dir {str(image_dir)!r} does not exist or is not a folder")
    return image_dir


def _is_int(v):
    return isinstance(v, numbers.Integral) and not isinstance(v, bool)


def _polygon_area(polygons):
    total = 0.0
    for p in polygons:
        xy = np.asarray(p, np.float64).reshape(-1, 2)
        x, y = xy[:, 0], xy[:, 1]
        total += abs(0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y)))
    return total


def _parse_segmentation(seg, height, width, where, skipped):
    """``("polygon", polygons)`` or ``("rle", rle)``; ``None`` (counted) when no mask is left."""
    if isinstance(seg, dict):
        if "counts" not in seg or "size" not in seg:
            raise ValueError(f"{where}: an RLE segmentation needs 'size' and 'counts', got {seg}")
        if [int(s) for s in seg["size"]] != [height, width]:
            raise ValueError(
                f"{where}: the RLE's size {list(seg['size'])} is not the image's "
                f"[height, width] {[height, width]}"
            )
        return ("rle", seg)
    if isinstance(seg, list):
        polygons = []
        for poly in seg:
            if not isinstance(poly, list) or not all(
                isinstance(v, numbers.Real) and not isinstance(v, bool) for v in poly
            ):
                raise ValueError(f"{where}: a polygon must be a list of numbers, got {poly!r:.60}")
            if len(poly) % 2:
                raise ValueError(f"{where}: a polygon needs x, y pairs; got {len(poly)} numbers")
            if len(poly) < 6:
                skipped["polygon_under_3_points"] = skipped.get("polygon_under_3_points", 0) + 1
                continue
            polygons.append([float(v) for v in poly])
        if polygons:
            return ("polygon", polygons)
    elif seg is not None:
        raise ValueError(
            f"{where}: segmentation must be polygons (a list) or an RLE (a dict), got "
            f"{type(seg).__name__}"
        )
    skipped["no_mask"] = skipped.get("no_mask", 0) + 1
    return None


def _decode(segmentation, height, width):
    kind, value = segmentation
    if kind == "rle":
        return decode_rle(value)
    return mask_from_polygons(value, height, width)


def _area(segmentation):
    kind, value = segmentation
    return rle_area(value) if kind == "rle" else _polygon_area(value)


def _select_categories(available, categories, what):
    """``available``: list of (key, name) in the file's order -> list of keys, classes 1..K."""
    if not available:
        raise ValueError(f"{what} has an empty category list")
    if categories is None:
        return [key for key, _ in available]
    if isinstance(categories, (str, bytes)) or not hasattr(categories, "__iter__"):
        raise ValueError(f"categories must be a list of names or ids, got {categories!r}")
    categories = list(categories)
    if not categories:
        raise ValueError("categories must name at least one category, got an empty list")
    by_name = {name: key for key, name in available}
    keys = {key for key, _ in available}
    out = []
    for c in categories:
        if isinstance(c, str) and c in by_name:
            out.append(by_name[c])
        elif not isinstance(c, str) and c in keys:
            out.append(c)
        else:
            raise ValueError(
                f"category {c!r} is not in {what}; it has {[(k, n) for k, n in available]} "
                "(id, name)"
            )
    if len(set(out)) != len(out):
        raise ValueError(f"categories lists a category twice: {categories}")
    return out


def _finish_records(records, max_instances, what):
    """Keep the ``max_instances`` largest instances per image (in their order), count the rest."""
    dropped = {}
    for rec in records:
        inst = rec["instances"]
        if len(inst) > max_instances:
            order = sorted(range(len(inst)), key=lambda j: -inst[j]["area"])
            keep = sorted(order[:max_instances])
            dropped[rec["id"]] = len(inst) - max_instances
            rec["instances"] = [inst[j] for j in keep]
    if dropped:
        logger.warning(
            "%s: %d image(s) have more than max_instances=%d objects; kept the largest, dropped "
            "%d instance(s) (see .dropped_instances and .dropped_by_image)",
            what,
            len(dropped),
            max_instances,
            sum(dropped.values()),
        )
    return dropped


def _missing_files(records, image_dir, what):
    missing = [r["file_name"] for r in records if not (image_dir / r["file_name"]).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} image file(s) named in {what} are missing from "
            f"{str(image_dir)!r}: {missing[:5]}"
        )


def _image_size_of(path):
    from PIL import Image

    with Image.open(path) as im:
        return im.height, im.width


def _parse_coco(annotation_file, image_dir, categories):
    what = f"annotation file {str(annotation_file)!r}"
    doc = _read_json(annotation_file, "annotation_file")
    if not isinstance(doc, dict):
        raise ValueError(f"{what} must hold a JSON object, got a {type(doc).__name__}")
    for key in ("images", "annotations", "categories"):
        if not isinstance(doc.get(key), list):
            got = type(doc[key]).__name__ if key in doc else "missing"
            raise ValueError(
                f"{what} needs 'images', 'annotations' and 'categories' lists; {key!r} is {got} "
                f"(keys: {sorted(doc)})"
            )
    cats = []
    for c in doc["categories"]:
        if not isinstance(c, dict) or not _is_int(c.get("id")) or "name" not in c:
            raise ValueError(f"{what}: a category needs an integer 'id' and a 'name', got {c!r}")
        cats.append((c["id"], str(c["name"])))
    if len({k for k, _ in cats}) != len(cats):
        raise ValueError(f"{what} lists a category id twice: {[k for k, _ in cats]}")
    chosen = _select_categories(cats, categories, what)
    names = dict(cats)
    class_of = {key: k + 1 for k, key in enumerate(chosen)}

    records, by_id = [], {}
    for im in doc["images"]:
        if not isinstance(im, dict) or "id" not in im or "file_name" not in im:
            raise ValueError(f"{what}: an image needs an 'id' and a 'file_name', got {im!r:.80}")
        if im["id"] in by_id:
            raise ValueError(f"{what} lists image id {im['id']!r} twice")
        rec = {"id": im["id"], "file_name": str(im["file_name"]), "instances": [], "crowd": []}
        if "height" in im and "width" in im:
            rec["height"], rec["width"] = int(im["height"]), int(im["width"])
        by_id[im["id"]] = rec
        records.append(rec)
    if not records:
        raise ValueError(f"{what} has an empty 'images' list")
    _missing_files(records, image_dir, what)
    for rec in records:
        if "height" not in rec:
            rec["height"], rec["width"] = _image_size_of(image_dir / rec["file_name"])
    if not doc["annotations"]:
        raise ValueError(f"{what} has an empty 'annotations' list (no objects to learn)")

    skipped = {}
    for a in doc["annotations"]:
        if not isinstance(a, dict) or "image_id" not in a or "category_id" not in a:
            raise ValueError(
                f"{what}: an annotation needs 'image_id' and 'category_id', got {a!r:.80}"
            )
        where = f"{what}, annotation {a.get('id')!r}"
        rec = by_id.get(a["image_id"])
        if rec is None:
            raise ValueError(
                f"{where} refers to image id {a['image_id']!r}, which is not in 'images'"
            )
        if a["category_id"] not in names:
            raise ValueError(
                f"{where} has category_id {a['category_id']!r}, which is not in 'categories' "
                f"(ids {sorted(names)})"
            )
        crowd = bool(a.get("iscrowd", 0))
        if a["category_id"] not in class_of:
            skipped["category_not_selected"] = skipped.get("category_not_selected", 0) + 1
            continue
        seg = _parse_segmentation(
            a.get("segmentation"), rec["height"], rec["width"], where, skipped
        )
        if seg is None:
            continue
        if crowd:  # an ignore region (COCO's evaluator ignores detections on it)
            rec["crowd"].append(seg)
            continue
        area = a.get("area")
        area = float(area) if isinstance(area, numbers.Real) else _area(seg)
        rec["instances"].append(
            {"class": class_of[a["category_id"]], "segmentation": seg, "area": area,
             "annotation_id": a.get("id")}
        )  # fmt: skip
    class_names = ("background", *(names[key] for key in chosen))
    return records, class_names, dict(zip(range(1, len(chosen) + 1), chosen)), skipped


def _region_class(region, class_attribute, default_class, where):
    if class_attribute is None:
        return default_class
    attrs = region.get("region_attributes") or {}
    if class_attribute not in attrs:
        raise ValueError(
            f"{where} has no {class_attribute!r} in its region_attributes (it has "
            f"{sorted(attrs)}); pass class_attribute=None to give every region the class "
            "default_class"
        )
    value = attrs[class_attribute]
    if isinstance(value, dict):  # VIA checkbox / dropdown: {"name": true}
        chosen = [k for k, v in value.items() if v]
        if len(chosen) != 1:
            raise ValueError(f"{where}: {class_attribute!r} must select one class, got {value}")
        value = chosen[0]
    if not isinstance(value, str) or not value:
        raise ValueError(f"{where}: {class_attribute!r} must be a class name, got {value!r}")
    return value


def _parse_via(json_file, image_dir, class_attribute, default_class, categories):
    what = f"VIA file {str(json_file)!r}"
    doc = _read_json(json_file, "json_file")
    if isinstance(doc, dict) and "_via_img_metadata" in doc:  # a VIA 2 project file
        doc = doc["_via_img_metadata"]
    if not isinstance(doc, dict) or not doc:
        raise ValueError(
            f"{what} must hold a non-empty JSON object of images (VIA's export: "
            f"{{key: {{'filename', 'regions'}}}}), got {type(doc).__name__} {str(doc)[:60]}"
        )
    records, skipped = [], {}
    for key, entry in doc.items():
        if not isinstance(entry, dict) or "filename" not in entry or "regions" not in entry:
            raise ValueError(f"{what}: entry {key!r} needs 'filename' and 'regions'")
        regions = entry["regions"]
        if isinstance(regions, dict):  # VIA 1: {"0": region, ...}
            regions = list(regions.values())
        if not isinstance(regions, list):
            raise ValueError(f"{what}: 'regions' of {key!r} must be a list or an object")
        records.append(
            {"id": len(records) + 1, "file_name": str(entry["filename"]), "regions": regions,
             "instances": [], "crowd": []}
        )  # fmt: skip
    _missing_files(records, image_dir, what)
    found = []
    for rec in records:
        rec["height"], rec["width"] = _image_size_of(image_dir / rec["file_name"])
        polys = []
        for j, region in enumerate(rec.pop("regions")):
            where = f"{what}, {rec['file_name']!r} region {j}"
            shape = (region or {}).get("shape_attributes") or {}
            kind = shape.get("name")
            if kind in ("polygon", "polyline") and "all_points_x" in shape:
                xs, ys = shape["all_points_x"], shape.get("all_points_y", [])
                if len(xs) != len(ys):
                    raise ValueError(
                        f"{where}: all_points_x and all_points_y differ in length "
                        f"({len(xs)} and {len(ys)})"
                    )
                flat = [float(v) for xy in zip(xs, ys) for v in xy]
            elif kind == "rect":
                x, y, w, h = (float(shape[k]) for k in ("x", "y", "width", "height"))
                flat = [x, y, x + w, y, x + w, y + h, x, y + h]
            else:
                skipped[f"shape_{kind}"] = skipped.get(f"shape_{kind}", 0) + 1
                continue
            name = _region_class(region, class_attribute, default_class, where)
            seg = _parse_segmentation([flat], rec["height"], rec["width"], where, skipped)
            if seg is not None:
                polys.append((name, seg))
                if name not in found:
                    found.append(name)
        rec["regions"] = polys
    available = [(n, n) for n in sorted(found)]
    chosen = _select_categories(available, categories, f"{what} (its region classes)")
    class_of = {name: k + 1 for k, name in enumerate(chosen)}
    for rec in records:
        for name, seg in rec.pop("regions"):
            if name not in class_of:
                skipped["category_not_selected"] = skipped.get("category_not_selected", 0) + 1
                continue
            rec["instances"].append(
                {"class": class_of[name], "segmentation": seg, "area": _area(seg),
                 "annotation_id": None}
            )  # fmt: skip
    return records, ("background", *chosen), None, skipped


# -- the data set -----------------------------------------------------------------------------
def _image_size(image_size):
    if _is_int(image_size):
        image_size = (image_size, image_size)
    if not (isinstance(image_size, (tuple, list)) and len(image_size) == 2):
        raise ValueError(f"image_size must be an int or (height, width), got {image_size!r}")
    return tuple(check_int(v, "image_size") for v in image_size)


class DetectionDataset(keras.utils.PyDataset):
    """Batches of images and Mask R-CNN targets read from disk; made by :func:`load_coco` and
    :func:`load_via` (see there for the arguments).

    ``dataset[b]`` is ``(images, targets)``: images float32 ``(B, H, W, 3)`` in [0, 1]
    (letterboxed: aspect ratio kept, top-left, zero padding), targets ``{"boxes": float32 (B, M,
    4), "classes": int32 (B, M), "masks": uint8 (B, M, H, W)}`` (``M = max_instances``; padding
    rows: boxes and classes ``-1``, masks 0), plus ``"crowd"`` uint8 ``(B, H, W)`` with
    ``include_crowd=True`` (the union of the image's crowd regions: an ignore mask). Boxes are
    the tight boxes ``[y1, x1, y2, x2]`` (exclusive) of the masks in model pixels. An instance
    whose mask becomes empty at the model's size (too small for the resize, or cropped out by the
    augmentation) is left out of that batch and counted in :attr:`vanished_instances`.

    Attributes:
        class_names: ``("background", name_1, ..., name_K)``; class ``k`` is ``class_names[k]``.
        num_classes: ``K``.
        category_ids: ``{k: COCO category id}`` (``None`` for VIA).
        image_ids: the images' ids, in file order (VIA: 1, 2, ... in file order).
        dropped_instances: instances dropped because an image had more than ``max_instances``.
        dropped_by_image: ``{image id: dropped count}``.
        skipped: ``{reason: count}`` of annotations (or polygons) left out while reading:
            ``"category_not_selected"``, ``"polygon_under_3_points"`` (one polygon of an
            annotation), ``"no_mask"`` (no segmentation, or no polygon left), ``"shape_<name>"``
            (VIA shapes other than polygons and rectangles).
        vanished_instances: instances left out of batches so far because their mask was empty
            at the model's size (counted in this process: batches that worker processes make,
            with ``use_multiprocessing=True``, are not counted here).
    """

    def __init__(
        self,
        records,
        image_dir,
        class_names,
        category_ids,
        skipped,
        dropped_by_image,
        *,
        image_size,
        max_instances,
        batch_size,
        shuffle,
        seed,
        augment,
        include_crowd,
        drop_remainder,
        workers=1,
        use_multiprocessing=False,
        max_queue_size=10,
    ):
        super().__init__(
            workers=workers, use_multiprocessing=use_multiprocessing, max_queue_size=max_queue_size
        )
        self._records = records
        self.image_dir = Path(image_dir)
        self.class_names = tuple(class_names)
        self.num_classes = len(self.class_names) - 1
        self.category_ids = category_ids
        self.image_ids = [r["id"] for r in records]
        self.skipped = dict(skipped)
        self.dropped_by_image = dict(dropped_by_image)
        self.dropped_instances = int(sum(dropped_by_image.values()))
        self.vanished_instances = 0
        self.image_size = image_size
        self.max_instances = max_instances
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.augment = augment
        self.include_crowd = include_crowd
        self.drop_remainder = drop_remainder
        self.epoch = 0
        self._lock = threading.Lock()
        if self.num_batches == 0:
            raise ValueError(
                f"{len(records)} image(s) make no full batch of batch_size={batch_size} with "
                "drop_remainder=True"
            )
        self._order = self._make_order()

    def __getstate__(self):  # picklable for worker processes (the lock is made afresh)
        state = dict(self.__dict__)
        del state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __len__(self):
        return self.num_batches

    @property
    def num_batches(self):
        n = len(self._records)
        return n // self.batch_size if self.drop_remainder else math.ceil(n / self.batch_size)

    @property
    def num_images(self):
        return len(self._records)

    def _make_order(self):
        n = len(self._records)
        if not self.shuffle:
            return np.arange(n)
        if self.seed is None:
            rng = np.random.default_rng()
        else:
            rng = np.random.default_rng([int(self.seed), self.epoch])
        return rng.permutation(n)

    def on_epoch_end(self):
        """Next epoch: a new order (``shuffle``) and new augmentation draws."""
        self.epoch += 1
        self._order = self._make_order()

    def batch_indices(self, index):
        """Indices (into the file's image order) of the images of batch ``index`` this epoch."""
        if not 0 <= index < self.num_batches:
            raise IndexError(f"batch index {index} out of range for {self.num_batches} batches")
        return self._order[index * self.batch_size : (index + 1) * self.batch_size]

    def info(self, i):
        """Image ``i`` (file order) on disk: ``{"id", "file_name", "path", "height", "width",
        "letterbox"}``; ``letterbox`` maps boxes and masks between model and original pixels
        (``letterbox.boxes_to_original``, ``letterbox.masks_to_original``)."""
        rec = self._records[i]
        return {
            "id": rec["id"],
            "file_name": rec["file_name"],
            "path": self.image_dir / rec["file_name"],
            "height": rec["height"],
            "width": rec["width"],
            "letterbox": Letterbox.fit((rec["height"], rec["width"]), self.image_size),
        }

    def batch_info(self, index):
        """:meth:`info` of each image of batch ``index``, in batch order."""
        return [self.info(int(i)) for i in self.batch_indices(index)]

    def _read_image(self, rec):
        from PIL import Image

        path = self.image_dir / rec["file_name"]
        try:
            with Image.open(path) as im:
                image = np.asarray(im.convert("RGB"))
        except FileNotFoundError:
            raise FileNotFoundError(f"image file {str(path)!r} has gone missing") from None
        if image.shape[:2] != (rec["height"], rec["width"]):
            raise ValueError(
                f"image {str(path)!r} is {image.shape[0]}x{image.shape[1]} (height x width) but "
                f"the annotations say {rec['height']}x{rec['width']}"
            )
        return image

    def _original(self, rec):
        h, w = rec["height"], rec["width"]
        image = self._read_image(rec)
        masks = np.zeros((len(rec["instances"]), h, w), np.uint8)
        for j, inst in enumerate(rec["instances"]):
            masks[j] = _decode(inst["segmentation"], h, w)
        crowd = np.zeros((h, w), np.uint8)
        for seg in rec["crowd"]:
            crowd |= _decode(seg, h, w)
        classes = np.array([inst["class"] for inst in rec["instances"]], np.int32)
        return image, masks, classes, crowd

    def example(self, i, original=False, epoch=None):
        """Image ``i`` (file order) and its instances, unpadded.

        With ``original=True``: at the size on disk, no augmentation (image float32 in [0, 1],
        masks ``(k, height, width)``, boxes the masks' tight boxes). Else as in the batches:
        letterboxed to ``image_size`` and, with ``augment``, augmented with the draw of
        ``epoch`` (default: the current one). Returns ``{"image", "boxes", "classes", "masks",
        "crowd", "info", "vanished"}``; ``masks`` hold only the instances that are not empty,
        ``vanished`` counts the others.
        """
        rec = self._records[i]
        image, masks, classes, crowd = self._original(rec)
        if original:
            keep = masks.reshape(len(masks), -1).any(axis=1)
            image = image.astype(np.float32) / 255.0
        elif self.augment is not None:
            rng = self.augment.generator(self.epoch if epoch is None else epoch, i)
            out = self.augment(image, np.concatenate([masks, crowd[None]]), self.image_size, rng)
            image, masks, crowd = out["image"], out["masks"][:-1], out["masks"][-1]
            keep = out["keep"][:-1]
        else:
            lb = Letterbox.fit((rec["height"], rec["width"]), self.image_size)
            image = lb.image_to_model(image)
            masks = lb.masks_to_model(masks)
            crowd = lb.masks_to_model(crowd[None])[0]
            keep = masks.reshape(len(masks), -1).any(axis=1)
        masks, classes = masks[keep], classes[keep]
        return {
            "image": image,
            "boxes": tight_boxes(masks),
            "classes": classes,
            "masks": masks,
            "crowd": crowd,
            "info": self.info(i),
            "vanished": int((~keep).sum()),
        }

    def __getitem__(self, index):
        idx = self.batch_indices(index)
        b, (h, w), m = len(idx), self.image_size, self.max_instances
        images = np.zeros((b, h, w, 3), np.float32)
        boxes = np.full((b, m, 4), -1, np.float32)
        classes = np.full((b, m), -1, np.int32)
        masks = np.zeros((b, m, h, w), np.uint8)
        crowd = np.zeros((b, h, w), np.uint8) if self.include_crowd else None
        vanished = 0
        for row, i in enumerate(idx):
            ex = self.example(int(i))
            k = len(ex["classes"])
            images[row] = ex["image"]
            boxes[row, :k] = ex["boxes"]
            classes[row, :k] = ex["classes"]
            masks[row, :k] = ex["masks"]
            if crowd is not None:
                crowd[row] = ex["crowd"]
            vanished += ex["vanished"]
        if vanished:
            with self._lock:
                self.vanished_instances += vanished
        targets = {"boxes": boxes, "classes": classes, "masks": masks}
        if crowd is not None:
            targets["crowd"] = crowd
        return images, targets


def _dataset(records, image_dir, class_names, category_ids, skipped, what, kwargs):
    image_size = _image_size(kwargs.pop("image_size"))
    max_instances = check_int(kwargs.pop("max_instances"), "max_instances")
    batch_size = check_int(kwargs.pop("batch_size"), "batch_size")
    augment = kwargs.pop("augment")
    if augment is not None and not isinstance(augment, DetectionAugmentation):
        raise ValueError(f"augment must be a DetectionAugmentation or None, got {augment!r}")
    seed = kwargs.pop("seed")
    if seed is not None and not _is_int(seed):
        raise ValueError(f"seed must be an integer or None, got {seed!r}")
    if skipped:
        logger.warning("%s: left out %s (see .skipped)", what, skipped)
    dropped = _finish_records(records, max_instances, what)
    return DetectionDataset(
        records,
        image_dir,
        class_names,
        category_ids,
        skipped,
        dropped,
        image_size=image_size,
        max_instances=max_instances,
        batch_size=batch_size,
        seed=seed,
        augment=augment,
        **kwargs,
    )


_LOADER_ARGS = """
        image_size: the model's ``(height, width)`` (or one int for a square): every image is
            resized with its aspect ratio kept, placed at the top-left and zero-padded
            (:class:`~tfzoo.datasets.letterbox.Letterbox`); masks and boxes follow.
        max_instances: the padded instance axis ``M``. An image with more objects keeps the
            ``M`` largest (by the annotation's ``area``, else the mask's), in their order; the
            others are counted in ``.dropped_instances`` / ``.dropped_by_image`` and a warning
            is logged (logger ``tfzoo.datasets.coco``).
        batch_size: images per batch.
        shuffle: a new order every epoch; from ``numpy.random.default_rng([seed, epoch])``
            (``seed=None``: fresh entropy), no global random state used.
        seed: integer seed of the shuffling.
        augment: a :class:`~tfzoo.datasets.DetectionAugmentation` (its own ``seed``) or
            ``None``.
        include_crowd: add ``"crowd"`` ``(B, H, W)`` to the targets (see above).
        drop_remainder: leave out the last, smaller batch (all batches then have one shape).
        workers, use_multiprocessing, max_queue_size: ``keras.utils.PyDataset``'s.
"""


def load_coco(
    annotation_file,
    image_dir,
    *,
    image_size=128,
    max_instances=32,
    categories=None,
    batch_size=8,
    shuffle=False,
    seed=None,
    augment=None,
    include_crowd=False,
    drop_remainder=False,
    workers=1,
    use_multiprocessing=False,
    max_queue_size=10,
):
    """A COCO instance-segmentation folder as batches that ``MaskRCNN.fit`` takes directly.

    Reads the annotation file once (checks it and that every image file exists); images and masks
    are read and decoded per batch. Masks may be polygons (a union; pixel centres inside, even-odd
    within one polygon) or RLE, uncompressed (``counts`` a list) or compressed (a string).
    COCO category ids become classes ``1..K`` in the order of ``categories`` (default: the
    file's order), names kept in ``.class_names`` and the ids in ``.category_ids``.

    Crowd regions (``iscrowd: 1``, of the selected categories) are not targets. They are
    returned so the model can leave them out of the negatives too, as COCO's evaluator ignores
    detections on them: their union per image is ``example(i)["crowd"]`` and, with
    ``include_crowd=True``, the targets' ``"crowd"`` entry, a ``(B, H, W)`` uint8 ignore mask in
    model pixels. (Today's ``MaskRCNN.compute_loss`` does not read it: there, crowd pixels count
    as background.)

    Documented skips (counted in ``.skipped``, logged): annotations of categories not in
    ``categories``, polygons with fewer than 3 points (the annotation keeps its other polygons;
    with none left it is skipped as ``"no_mask"``), annotations without a segmentation. Errors
    (``FileNotFoundError`` / ``ValueError`` naming what was received): a missing annotation file,
    image folder or image file, invalid JSON, a file without ``images`` / ``annotations`` /
    ``categories`` lists, an empty category, image or annotation list, an annotation whose image
    id or category id is not listed, an RLE of another size than its image, a ``categories``
    entry not in the file, and (when read) an image whose size differs from its record.

    Args:
        annotation_file: path of the COCO JSON file.
        image_dir: folder of the images (``file_name`` is relative to it).
        categories: ``None`` (all, in the file's order) or a list of category names or ids, in
            the order of the classes 1..K.
        {loader_args}
    Returns:
        A :class:`DetectionDataset` (a ``keras.utils.PyDataset``). ``dataset.info(i)`` and
        ``dataset.batch_info(b)`` give each image's id, file name, original size and letterbox,
        to map detections back to the original pixels and score them against the file with
        COCO's evaluator; ``dataset.example(i, original=True)`` gives the image and its
        instances at the size on disk.

    Example:

    >>> train = load_coco("train.json", "images/", max_instances=8)  # doctest: +SKIP
    >>> model.fit(train, epochs=10)  # doctest: +SKIP
    """
    kwargs = dict(locals())
    image_dir = _check_dir(kwargs.pop("image_dir"))
    annotation_file = kwargs.pop("annotation_file")
    records, names, ids, skipped = _parse_coco(annotation_file, image_dir, kwargs.pop("categories"))
    return _dataset(records, image_dir, names, ids, skipped, "load_coco", kwargs)


def load_via(
    json_file,
    image_dir,
    *,
    class_attribute="class",
    default_class="object",
    image_size=128,
    max_instances=32,
    categories=None,
    batch_size=8,
    shuffle=False,
    seed=None,
    augment=None,
    include_crowd=False,
    drop_remainder=False,
    workers=1,
    use_multiprocessing=False,
    max_queue_size=10,
):
    """A VGG Image Annotator (VIA) polygon file as batches that ``MaskRCNN.fit`` takes directly.

    Reads VIA's JSON export (``{key: {"filename", "regions", ...}}``, regions a list (VIA 2) or
    an object (VIA 1), as in Matterport's balloon sample) or a VIA 2 project file (its
    ``"_via_img_metadata"``). Each region with ``shape_attributes`` ``"polygon"`` (or
    ``"polyline"``; ``all_points_x``, ``all_points_y``) or ``"rect"`` (``x, y, width, height``)
    is one instance; other shapes are counted in ``.skipped`` (``"shape_circle"``...). Points are
    in pixel coordinates with pixel ``(r, c)`` covering ``[c, c + 1) x [r, r + 1)``, as in COCO;
    a pixel is in the mask when its centre is inside the polygon. Image sizes are read from the
    image files. The class of a region is ``region_attributes[class_attribute]`` (a name, or a
    VIA checkbox/dropdown object with one selected name); with ``class_attribute=None`` every
    region has the class ``default_class`` (e.g. ``"balloon"``). A region without the attribute
    is an error. Classes are numbered 1..K in the order of ``categories`` (names; default: the
    names found, sorted). VIA has no crowd regions. Other checks and errors as in
    :func:`load_coco`; a polygon with fewer than 3 points is counted as
    ``"polygon_under_3_points"``.

    Args:
        json_file: path of the VIA JSON file.
        image_dir: folder of the images (``filename`` is relative to it).
        class_attribute: the region attribute holding the class name, or ``None``.
        default_class: the class of every region when ``class_attribute`` is ``None``.
        categories: ``None`` (every class found, sorted) or a list of class names.
        {loader_args}
    Returns:
        A :class:`DetectionDataset`, as :func:`load_coco`; image ids are 1, 2, ... in file order.
    """
    kwargs = dict(locals())
    image_dir = _check_dir(kwargs.pop("image_dir"))
    json_file = kwargs.pop("json_file")
    records, names, ids, skipped = _parse_via(
        json_file,
        image_dir,
        kwargs.pop("class_attribute"),
        str(kwargs.pop("default_class")),
        kwargs.pop("categories"),
    )
    return _dataset(records, image_dir, names, ids, skipped, "load_via", kwargs)


for _loader in (load_coco, load_via):
    _loader.__doc__ = _loader.__doc__.replace(
        "        {loader_args}\n", _LOADER_ARGS.lstrip("\n") + "\n"
    )

__all__ = ["DetectionDataset", "export_coco", "load_coco", "load_via"]
