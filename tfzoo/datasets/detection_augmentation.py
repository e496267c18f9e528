"""Random flips, scale jitter (crop or pad) and colour jitter in which the instance masks follow
the image, to a fixed output size."""

from __future__ import annotations

import numbers

import numpy as np

from tfzoo.datasets.coco_masks import tight_boxes
from tfzoo.datasets.letterbox import Letterbox


def _fraction(value, name, upper=1.0):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= upper:
        raise ValueError(f"{name} must be a number in [0, {upper}], got {value!r}")
    return float(value)


class DetectionAugmentation:
    """Augmentation for detection and instance segmentation, on the host (NumPy).

    Each call draws, from its generator: a horizontal flip (probability ``flip``); a scale factor
    ``s`` uniform in ``scale``, applied on top of the letterbox scale (the image is resized by
    ``letterbox.scale * s`` with its aspect ratio kept, then, where it is larger than the output,
    a random window of the output size is cropped, and where it is smaller it is padded with zeros
    at the bottom and the right, as the letterbox does); and a colour jitter of the image area
    (not the padding): brightness ``+ U(-brightness, brightness)``, contrast (scaled about the
    mean by ``U(1 - contrast, 1 + contrast)``), saturation (blended with the grey image by
    ``U(1 - saturation, 1 + saturation)``), clipped to [0, 1]. The masks are flipped, resized
    and cropped exactly as the image (resized area-weighted, then thresholded at 0.5, as
    :class:`~tfzoo.datasets.letterbox.Letterbox` does), the boxes are the tight boxes of the
    transformed masks, and an instance whose mask is empty afterwards (cropped out, or too small)
    is marked as not kept. Output shapes depend only on ``image_size``.

    Give it to :func:`~tfzoo.datasets.load_coco` or :func:`~tfzoo.datasets.load_via` as
    ``augment=``: the loader draws image ``i``'s transform in epoch ``e`` from
    ``numpy.random.default_rng([seed, e, i])``, so a run is reproducible from ``seed`` whatever the
    order or the threads that read the batches, and no global random state is touched.

    Args:
        flip: probability of a horizontal flip, in [0, 1].
        scale: ``(low, high)`` range of the scale factor, ``0 < low <= high``; ``(1, 1)`` keeps
            the letterbox size (no crop or pad beyond it).
        brightness: half-width of the additive brightness shift, in [0, 1].
        contrast: half-width of the contrast factor's range around 1, in [0, 1].
        saturation: half-width of the saturation factor's range around 1, in [0, 1].
        seed: integer seed (``None``: fresh entropy on every call, not reproducible).

    Example:

    >>> aug = DetectionAugmentation(seed=0)
    >>> image = np.zeros((40, 60, 3), np.float32)
    >>> masks = np.zeros((1, 40, 60), np.uint8); masks[0, 10:20, 5:30] = 1
    >>> out = aug(image, masks, (64, 64), rng=aug.generator(0, 0))
    >>> out["image"].shape, out["masks"].shape, out["boxes"].shape
    ((64, 64, 3), (1, 64, 64), (1, 4))
    """

    def __init__(
        self,
        *,
        flip=0.5,
        scale=(0.75, 1.25),
        brightness=0.1,
        contrast=0.1,
        saturation=0.1,
        seed=None,
    ):
        self.flip = _fraction(flip, "flip")
        try:
            low, high = (float(v) for v in scale)
        except (TypeError, ValueError):
            raise ValueError(f"scale must be a (low, high) pair, got {scale!r}") from None
        if not 0 < low <= high or not np.isfinite(high):
            raise ValueError(f"scale must be (low, high) with 0 < low <= high, got {scale!r}")
        self.scale = (low, high)
        self.brightness = _fraction(brightness, "brightness")
        self.contrast = _fraction(contrast, "contrast")
        self.saturation = _fraction(saturation, "saturation")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, numbers.Integral)):
            raise ValueError(f"seed must be an integer or None, got {seed!r}")
        self.seed = seed

    def __repr__(self):
        return (
            f"DetectionAugmentation(flip={self.flip}, scale={self.scale}, "
            f"brightness={self.brightness}, contrast={self.contrast}, "
            f"saturation={self.saturation}, seed={self.seed})"
        )

    def generator(self, *keys):
        """The generator of one draw: ``default_rng([seed, *keys])`` (fresh entropy when
        ``seed`` is None)."""
        if self.seed is None:
            return np.random.default_rng()
        return np.random.default_rng([int(self.seed), *(int(k) for k in keys)])

    def __call__(self, image, masks, image_size, rng=None):
        """Transform one image and its masks.

        Args:
            image: ``(H, W, 3)`` float in [0, 1] or uint8.
            masks: ``(N, H, W)`` 0/1 masks (``N`` may be 0).
            image_size: ``(height, width)`` of the output.
            rng: a ``numpy.random.Generator`` (default: :meth:`generator` with no keys).

        Returns:
            A dict: ``"image"`` float32 ``(height, width, 3)``, ``"masks"`` uint8
            ``(N, height, width)``, ``"boxes"`` float32 ``(N, 4)`` (tight boxes of the masks,
            ``-1`` where empty), ``"keep"`` bool ``(N,)`` (mask not empty), and the draw:
            ``"flip"`` (bool), ``"scale"`` (original pixels -> output pixels), ``"offset"``
            (``(y, x)`` of the crop window in the resized image).
        """
        rng = self.generator() if rng is None else rng
        image = np.asarray(image)
        masks = np.asarray(masks)
        if image.ndim != 3 or masks.ndim != 3 or masks.shape[1:] != image.shape[:2]:
            raise ValueError(
                "expected an (H, W, C) image and (N, H, W) masks of the same size, got shapes "
                f"{image.shape} and {masks.shape}"
            )
        th, tw = (int(s) for s in image_size)
        oh, ow = image.shape[:2]
        flip = bool(rng.random() < self.flip)
        factor = float(rng.uniform(*self.scale))
        if flip:
            image, masks = image[:, ::-1], masks[:, :, ::-1]
        total = Letterbox.fit((oh, ow), (th, tw)).scale * factor
        size = (max(1, round(oh * total)), max(1, round(ow * total)))
        lb = Letterbox.fit((oh, ow), size)
        big = lb.image_to_model(np.ascontiguousarray(image))
        big_masks = lb.masks_to_model(np.ascontiguousarray(masks))
        y0 = int(rng.integers(0, size[0] - th + 1)) if size[0] > th else 0
        x0 = int(rng.integers(0, size[1] - tw + 1)) if size[1] > tw else 0
        h, w = min(th, size[0] - y0), min(tw, size[1] - x0)
        out = np.zeros((th, tw, big.shape[-1]), np.float32)
        out[:h, :w] = big[y0 : y0 + h, x0 : x0 + w]
        out_masks = np.zeros((len(masks), th, tw), np.uint8)
        out_masks[:, :h, :w] = big_masks[:, y0 : y0 + h, x0 : x0 + w]
        # Only the scaled image's own pixels are jittered (the padding stays 0).
        rh, rw = min(lb.resized[0] - y0, h), min(lb.resized[1] - x0, w)
        if rh > 0 and rw > 0:
            out[:rh, :rw] = self._colour(out[:rh, :rw], rng)
        boxes = tight_boxes(out_masks)
        return {
            "image": out,
            "masks": out_masks,
            "boxes": boxes,
            "keep": out_masks.reshape(len(masks), -1).any(axis=1),
            "flip": flip,
            "scale": lb.scale,
            "offset": (y0, x0),
        }

    def _colour(self, area, rng):
        b = rng.uniform(-self.brightness, self.brightness)
        c = rng.uniform(1 - self.contrast, 1 + self.contrast)
        s = rng.uniform(1 - self.saturation, 1 + self.saturation)
        area = area + np.float32(b)
        area = (area - area.mean()) * np.float32(c) + area.mean()
        if area.shape[-1] == 3:
            grey = area @ np.array([0.299, 0.587, 0.114], np.float32)
            area = grey[..., None] + (area - grey[..., None]) * np.float32(s)
        return np.clip(area, 0, 1).astype(np.float32)
