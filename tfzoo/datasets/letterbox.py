"""Resize images to a model's fixed size with their aspect ratio kept, and map results back.

A letterboxed image is scaled by one factor ``scale`` (the largest that fits ``target`` on both
sides), placed at the top-left corner and padded with zeros at the bottom and the right. Pixel
coordinates map as ``model = original * scale``; boxes ``[y1, x1, y2, x2]`` (``y2``/``x2``
exclusive) map the same way, so ``original = model / scale``, clipped to the original image.

Only NumPy and Pillow (for the resampling) are used: this runs in data loaders, on the host.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Letterbox:
    """Where an ``original`` (height, width) image sits inside a ``target`` (height, width) one."""

    original: tuple
    target: tuple
    scale: float
    resized: tuple  # (height, width) of the scaled image, at the top-left of the target

    @classmethod
    def fit(cls, original, target):
        oh, ow = (int(s) for s in original)
        th, tw = (int(s) for s in target)
        if min(oh, ow, th, tw) < 1:
            raise ValueError(f"image sizes must be positive, got {original} into {target}")
        scale = min(th / oh, tw / ow)
        resized = (min(th, max(1, round(oh * scale))), min(tw, max(1, round(ow * scale))))
        return cls((oh, ow), (th, tw), float(scale), resized)

    def boxes_to_model(self, boxes):
        """Boxes in original pixels -> model pixels (rows of ``-1`` padding stay ``-1``)."""
        boxes = np.asarray(boxes, np.float32)
        out = boxes * np.float32(self.scale)
        pad = np.all(boxes == -1, axis=-1)
        out[pad] = -1
        return out

    def boxes_to_original(self, boxes):
        """Boxes in model pixels -> original pixels, clipped to the original image."""
        boxes = np.asarray(boxes, np.float32) / np.float32(self.scale)
        oh, ow = self.original
        limit = np.array([oh, ow, oh, ow], np.float32)
        return np.clip(boxes, 0, limit)

    def image_to_model(self, image):
        """``(H, W, C)`` image (any dtype; uint8 is read as 0..255) -> float32 ``target`` image in
        [0, 1] (uint8) or in the input's range, zero-padded."""
        image = np.asarray(image)
        if image.shape[:2] != self.original:
            raise ValueError(
                f"image has shape {image.shape[:2]}, this letterbox fits {self.original}"
            )
        if image.dtype == np.uint8:
            image = image.astype(np.float32) / 255.0
        image = image.astype(np.float32, copy=False)
        if image.ndim == 2:
            image = image[..., None]
        out = np.zeros(self.target + image.shape[2:], np.float32)
        rh, rw = self.resized
        out[:rh, :rw] = _resize(image, (rh, rw))
        return out

    def masks_to_model(self, masks):
        """``(N, H, W)`` 0/1 masks -> uint8 ``(N, *target)`` masks (area-weighted, then >= 0.5)."""
        masks = np.asarray(masks)
        out = np.zeros((masks.shape[0],) + self.target, np.uint8)
        rh, rw = self.resized
        for i, mask in enumerate(masks):
            out[i, :rh, :rw] = _resize(mask.astype(np.float32)[..., None], (rh, rw))[..., 0] >= 0.5
        return out

    def masks_to_original(self, masks):
        """``(N, *target)`` masks (0/1 or probabilities) in model pixels -> uint8
        ``(N, *original)``."""
        masks = np.asarray(masks, np.float32)
        out = np.zeros((masks.shape[0],) + self.original, np.uint8)
        rh, rw = self.resized
        for i, mask in enumerate(masks):
            out[i] = _resize(mask[:rh, :rw, None], self.original)[..., 0] >= 0.5
        return out


def _resize(image, size):
    """Bilinear resize of a float32 ``(H, W, C)`` array to ``size`` (antialiased when shrinking)."""
    from PIL import Image

    h, w = size
    if image.shape[:2] == (h, w):
        return image.copy()
    channels = [
        np.asarray(Image.fromarray(image[..., c]).resize((w, h), Image.Resampling.BILINEAR))
        for c in range(image.shape[-1])
    ]
    return np.stack(channels, axis=-1).astype(np.float32, copy=False)
