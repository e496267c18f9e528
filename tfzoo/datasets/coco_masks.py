"""COCO instance masks in NumPy: run-length encoding (RLE) and polygons, both ways.

COCO stores a mask either as polygons (``[[x0, y0, x1, y1, ...], ...]``, pixel ``(r, c)`` covers
``[c, c + 1) x [r, r + 1)``; a pixel belongs to a polygon when its centre ``(c + 0.5, r + 0.5)``
lies inside it, several polygons are a union) or as an RLE: ``{"size": [h, w], "counts": ...}``
with the run lengths of the mask read in column-major (Fortran) order, starting with a run of
zeros; ``counts`` is a list of integers (uncompressed) or COCO's compressed ASCII string (each
count after the second stored as the difference to the count two before, in 5-bit groups with a
continuation bit, offset by 48). No pycocotools needed; the tests check these against it.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "decode_rle",
    "encode_rle",
    "mask_from_polygons",
    "polygons_from_mask",
    "rle_area",
    "rle_from_string",
    "rle_to_string",
    "tight_boxes",
]


def encode_rle(mask):
    """``(H, W)`` 0/1 mask -> uncompressed COCO RLE ``{"size": [H, W], "counts": [int, ...]}``."""
    mask = np.asarray(mask)
    if mask.ndim != 2:
        raise ValueError(f"a mask must be 2-D (height, width), got shape {mask.shape}")
    flat = (mask != 0).ravel(order="F")
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(edges).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts  # the first run is always of zeros
    return {"size": [int(mask.shape[0]), int(mask.shape[1])], "counts": counts}


def rle_to_string(counts):
    """Run lengths -> COCO's compressed RLE string (as ``pycocotools`` writes it)."""
    out = []
    counts = [int(c) for c in counts]
    for i, x in enumerate(counts):
        if i > 2:
            x -= counts[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def rle_from_string(text):
    """COCO's compressed RLE string -> list of run lengths."""
    if isinstance(text, bytes):
        text = text.decode("ascii")
    counts = []
    p, n = 0, len(text)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise ValueError(f"compressed RLE string ends inside a count: {text[:40]!r}...")
            c = ord(text[p]) - 48
            if not 0 <= c < 64:
                raise ValueError(f"compressed RLE string has a bad character {text[p]!r}")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and c & 0x10:
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def _counts_of(rle, what="RLE"):
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        raise ValueError(f"{what} must be a dict with 'size' and 'counts', got {rle!r:.80}")
    size = rle["size"]
    if not (isinstance(size, (list, tuple)) and len(size) == 2):
        raise ValueError(f"{what} 'size' must be [height, width], got {size!r}")
    h, w = int(size[0]), int(size[1])
    counts = rle["counts"]
    if isinstance(counts, (str, bytes)):
        counts = rle_from_string(counts)
    counts = np.asarray(counts, np.int64)
    if counts.ndim != 1 or (counts.size and counts.min() < 0):
        raise ValueError(f"{what} 'counts' must be non-negative run lengths")
    if counts.sum() != h * w:
        raise ValueError(
            f"{what} counts sum to {int(counts.sum())} pixels but its size {[h, w]} has {h * w}"
        )
    return (h, w), counts


def decode_rle(rle):
    """COCO RLE (``counts`` a list or a compressed string) -> uint8 ``(H, W)`` mask."""
    (h, w), counts = _counts_of(rle)
    values = np.arange(counts.size, dtype=np.uint8) % 2
    flat = np.repeat(values, counts)
    return flat.reshape(w, h).T.copy()


def rle_area(rle):
    """Foreground pixels of a COCO RLE without decoding it."""
    _, counts = _counts_of(rle)
    return int(counts[1::2].sum())


def mask_from_polygons(polygons, height, width):
    """COCO polygons -> uint8 ``(height, width)`` mask.

    A pixel is inside one polygon when its centre is (even-odd rule, so a polygon that runs round
    a hole and back through a zero-width cut leaves the hole out); polygons are a union.
    """
    out = np.zeros((height, width), bool)
    centres = np.arange(height, dtype=np.float64) + 0.5
    for poly in polygons:
        xy = np.asarray(poly, np.float64).reshape(-1, 2)
        xa, ya = xy[:, 0], xy[:, 1]
        xb, yb = np.roll(xa, -1), np.roll(ya, -1)
        # Each edge from its upper end, so an edge walked both ways crosses at the same x.
        up = ya <= yb
        x0, y0 = np.where(up, xa, xb), np.where(up, ya, yb)
        x1, y1 = np.where(up, xb, xa), np.where(up, yb, ya)
        # Edge e crosses the row of centre yc when exactly one end is at or below yc (half-open).
        crosses = (y0[None, :] <= centres[:, None]) != (y1[None, :] <= centres[:, None])
        rows, edges = np.nonzero(crosses)
        if rows.size == 0:
            continue
        yc = centres[rows]
        t = (yc - y0[edges]) / (y1[edges] - y0[edges])
        xc = x0[edges] + t * (x1[edges] - x0[edges])
        # The crossing toggles every pixel whose centre lies right of it.
        first = np.clip(np.floor(xc - 0.5).astype(np.int64) + 1, 0, width)
        top, bottom = rows.min(), rows.max() + 1
        toggles = np.bincount(
            (rows - top) * (width + 1) + first, minlength=(bottom - top) * (width + 1)
        ).reshape(bottom - top, width + 1)
        out[top:bottom] |= (np.cumsum(toggles[:, :width], axis=1) % 2).astype(bool)
    return out.astype(np.uint8)


def _loops(mask):
    """Closed outlines along pixel corners, foreground on the right (outer loops clockwise on
    screen, holes anticlockwise); vertices ``(y, x)``, corners where the direction is kept
    dropped."""
    fg = np.pad(mask != 0, 1)
    core = fg[1:-1, 1:-1]
    outgoing = {}
    # (foreground pixel with background on that side) -> edge start, end, in unpadded corners.
    sides = (
        (fg[:-2, 1:-1], (0, 0), (0, 1)),  # top: left to right
        (fg[1:-1, 2:], (0, 1), (1, 1)),  # right: downwards
        (fg[2:, 1:-1], (1, 1), (1, 0)),  # bottom: right to left
        (fg[1:-1, :-2], (1, 0), (0, 0)),  # left: upwards
    )
    for neighbour, start, end in sides:
        for r, c in zip(*np.nonzero(core & ~neighbour)):
            a = (int(r) + start[0], int(c) + start[1])
            b = (int(r) + end[0], int(c) + end[1])
            outgoing.setdefault(a, []).append(b)
    loops = []
    while outgoing:
        start = next(iter(outgoing))
        loop, here, heading = [start], start, None
        while True:
            ends = outgoing[here]
            if len(ends) > 1 and heading is not None:
                right = (heading[1], -heading[0])  # turn right: 4-connected pieces stay apart
                pick = next((e for e in ends if (e[0] - here[0], e[1] - here[1]) == right), ends[0])
            else:
                pick = ends[0]
            ends.remove(pick)
            if not ends:
                del outgoing[here]
            heading = (pick[0] - here[0], pick[1] - here[1])
            here = pick
            if here == start:
                break
            loop.append(here)
        loops.append(_drop_straight(loop))
    return loops


def _drop_straight(loop):
    pts = np.asarray(loop, np.int64)
    prev, nxt = np.roll(pts, 1, axis=0), np.roll(pts, -1, axis=0)
    d1, d2 = pts - prev, nxt - pts
    turn = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0] != 0
    return pts[turn]


def _signed_area(yx):
    y, x = yx[:, 0].astype(np.float64), yx[:, 1].astype(np.float64)
    return 0.5 * float(np.sum(x * np.roll(y, -1) - np.roll(x, -1) * y))


def _flat_xy(yx):
    return [float(v) for v in yx[:, ::-1].ravel()]


def polygons_from_mask(mask):
    """``(H, W)`` 0/1 mask -> COCO polygons that :func:`mask_from_polygons` turns back into it
    exactly, or ``None`` for an empty mask.

    The outlines follow pixel corners. A mask without holes gives one polygon per outline. A mask
    with holes gives one polygon: every outline joined to the first by a zero-width cut (walked
    there and back), which an even-odd rasteriser (this module's, and pycocotools') fills exactly;
    its shoelace area is the mask's area.
    """
    mask = np.asarray(mask) != 0
    if not mask.any():
        return None
    h, w = mask.shape
    loops = _loops(mask)
    if all(_signed_area(loop) > 0 for loop in loops):
        polygons = [_flat_xy(loop) for loop in loops]
        if np.array_equal(mask_from_polygons(polygons, h, w), mask):
            return polygons
    anchor = loops[0][:1]
    joined = [loops[0], anchor]
    for loop in loops[1:]:
        joined += [loop, loop[:1], anchor]
    polygon = [_flat_xy(np.concatenate(joined))]
    if not np.array_equal(mask_from_polygons(polygon, h, w), mask):  # never expected
        raise AssertionError("internal error: the traced outline does not fill the mask back")
    return polygon


def tight_boxes(masks):
    """``(N, H, W)`` masks -> float32 ``(N, 4)`` tight boxes ``[y1, x1, y2, x2]`` (``y2``/``x2``
    exclusive); empty masks give ``-1`` rows."""
    masks = np.asarray(masks) != 0
    n, h, w = masks.shape
    rows, cols = masks.any(axis=2), masks.any(axis=1)
    boxes = np.stack(
        [
            rows.argmax(-1),
            cols.argmax(-1),
            h - rows[:, ::-1].argmax(-1),
            w - cols[:, ::-1].argmax(-1),
        ],
        axis=-1,
    ).astype(np.float32)
    boxes[~rows.any(-1)] = -1
    return boxes.reshape(n, 4)
