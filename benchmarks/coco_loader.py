"""Images/s of the COCO loader alone (no model), on a generated COCO folder.

    python benchmarks/coco_loader.py                # 256 images of 128 px, batches of 8
    python benchmarks/coco_loader.py --images 64    # quicker

Writes ``make_shapes`` data with ``export_coco`` (polygons and RLE) into a temporary folder,
then times ``load_coco(...)[b]`` over every batch (PNG decode, mask decode, letterbox; one
thread, the batches read in order), without and with ``DetectionAugmentation``, at the images'
own size and letterboxed into a non-square model size. Prints one table.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from tfzoo.datasets import DetectionAugmentation, export_coco, load_coco, make_shapes


def images_per_second(data, repeats):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for b in range(len(data)):
            data[b]
        best = min(best, time.perf_counter() - start)
    return data.num_images / best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=256)
    parser.add_argument("--image-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    s = args.image_size
    shapes = make_shapes(args.images, image_size=s, seed=0)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in ("polygon", "rle"):
            start = time.perf_counter()
            path = export_coco(shapes, Path(tmp) / fmt, mask_format=fmt)
            export = args.images / (time.perf_counter() - start)
            for size in (s, (s, s * 3 // 2)):
                for augment in (None, DetectionAugmentation(seed=0)):
                    data = load_coco(
                        path,
                        Path(tmp) / fmt / "images",
                        image_size=size,
                        max_instances=4,
                        batch_size=args.batch_size,
                        augment=augment,
                    )
                    rate = images_per_second(data, args.repeats)
                    shape = f"{data.image_size[0]}x{data.image_size[1]}"
                    rows.append((fmt, shape, "yes" if augment else "no", rate, export))
    print(f"COCO loader, {args.images} images of {s} px, batches of {args.batch_size}, 1 thread")
    print(f"{'masks':8} {'model size':>10} {'augment':>8} {'images/s':>9} {'export img/s':>13}")
    for fmt, shape, augment, rate, export in rows:
        print(f"{fmt:8} {shape:>10} {augment:>8} {rate:9.0f} {export:13.0f}")


if __name__ == "__main__":
    main()
