"""``MaskRCNN.detect``: images of any size in, detections in each image's own pixels out.

Each image is letterboxed (:class:`tfzoo.datasets.letterbox.Letterbox`: scaled by one factor to
fit the model's size, placed at the top-left, zero-padded), the batch runs through one compiled
prediction function (padded to a fixed batch size, so a call does not retrace), and each
detection is mapped back: boxes divided by the letterbox scale and clipped to the image, and the
detection's 28x28 mask probabilities pasted (bilinearly, as ``box_ops.paste_masks`` does in the
model) into the box in ORIGINAL pixels, at the original resolution, then thresholded at 0.5.
Pasting at the original resolution, rather than upscaling the model-size mask, keeps the
detail the mask head has for an image larger than the model's input.
"""

from __future__ import annotations

import keras
import numpy as np

from tfzoo.datasets.letterbox import Letterbox


class _DetectRunner(keras.Model):
    """The model's detections with unpasted masks, through Keras's compiled ``predict``.

    It tracks the Mask R-CNN as a sublayer (its variables are the runner's, so JAX's stateless
    prediction sees them); the Mask R-CNN keeps the runner in a plain holder that Keras neither
    tracks nor saves.
    """

    def __init__(self, model):
        super().__init__(name=f"{model.name}_detect")
        self.detector = model
        self.built = True

    def call(self, images):
        images = keras.ops.convert_to_tensor(images)
        return self.detector._infer(images, self.detector._raw_outputs(images, False))


class _Holder:
    """Keeps an object out of Keras's tracking and saving."""

    def __init__(self, value):
        self.value = value


def _runner(model):
    holder = model.__dict__.get("_detect_holder")
    if holder is None:
        runner = _DetectRunner(model)
        runner.jit_compile = model.jit_compile
        holder = _Holder(runner)
        object.__setattr__(model, "_detect_holder", holder)
    return holder.value


def _check_images(images, channels):
    if isinstance(images, np.ndarray) and images.ndim == 4:
        images = list(images)
    elif isinstance(images, np.ndarray) or not isinstance(images, (list, tuple)):
        shape = getattr(images, "shape", None)
        raise ValueError(
            "detect takes a list of images (height, width, channels) or a 4-d array; got "
            f"{type(images).__name__}"
            + (f" of shape {tuple(shape)}" if shape else "")
            + ". For one image, pass [image]"
        )
    checked = []
    for i, image in enumerate(images):
        image = np.asarray(image)
        if image.ndim == 2 and channels == 1:
            image = image[..., None]
        if image.ndim != 3 or image.shape[2] != channels or min(image.shape[:2]) < 1:
            raise ValueError(
                f"detect: image {i} has shape {image.shape}; the model takes images of shape "
                f"(height, width, {channels}) of any height and width"
            )
        if image.dtype == np.uint8:
            pass
        elif np.issubdtype(image.dtype, np.floating):
            if not np.all(np.isfinite(image)):
                raise ValueError(f"detect: image {i} contains NaN or infinite values")
            low, high = float(image.min()), float(image.max())
            if low < 0 or high > 1:
                raise ValueError(
                    f"detect: float images must be in [0, 1]; image {i} has values in "
                    f"[{low:g}, {high:g}]. Pass uint8 pixels (0..255) or divide by 255"
                )
        else:
            raise ValueError(
                f"detect: images must be uint8 (0..255) or float in [0, 1]; image {i} is "
                f"{image.dtype}"
            )
        checked.append(image)
    return checked


def paste_mask(mask, box, height, width):
    """Paste one ``(m, m)`` mask of probabilities into its box ``[y1, x1, y2, x2]`` (pixels,
    any real coordinates) of a ``(height, width)`` image: uint8 0/1, ``>= 0.5`` kept.

    The NumPy twin of ``tfzoo.layers.box_ops.paste_masks`` (the same bilinear sampling at pixel
    centres, the mask's cells covering the box evenly, 0 outside the box), computed only on the
    pixels inside the box.
    """
    mask = np.asarray(mask, np.float32)
    m = mask.shape[-1]
    y1, x1, y2, x2 = (float(v) for v in box)
    out = np.zeros((height, width), np.uint8)
    h, w = max(y2 - y1, 1e-6), max(x2 - x1, 1e-6)
    rows = np.arange(max(0, int(np.floor(y1 - 0.5))), min(height, int(np.ceil(y2 + 0.5))))
    cols = np.arange(max(0, int(np.floor(x1 - 0.5))), min(width, int(np.ceil(x2 + 0.5))))
    py, px = rows.astype(np.float32) + 0.5, cols.astype(np.float32) + 0.5
    rows, py = rows[(py >= y1) & (py < y2)], py[(py >= y1) & (py < y2)]
    cols, px = cols[(px >= x1) & (px < x2)], px[(px >= x1) & (px < x2)]
    if not len(rows) or not len(cols):
        return out
    wy = _weights((py - np.float32(y1)) / np.float32(h) * m - 0.5, m)
    wx = _weights((px - np.float32(x1)) / np.float32(w) * m - 0.5, m)
    out[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = (wy @ mask @ wx.T) >= 0.5
    return out


def _weights(coords, size):
    coords = np.clip(coords, 0.0, size - 1.0)
    return np.maximum(0.0, 1.0 - np.abs(coords[:, None] - np.arange(size, dtype=np.float32)))


def fixed_batch(n, batch_size):
    """The one batch size ``n`` images run at: ``batch_size``, or the next power of two
    when fewer images than that come, so that any number of images gives one of a few
    batch shapes (one trace, one XLA compilation each)."""
    return min(int(batch_size), 1 << max(0, (n - 1).bit_length()))


def pad_rows(batch, rows):
    """``batch`` with blank rows appended to ``rows`` rows."""
    if len(batch) >= rows:
        return batch
    return np.concatenate([batch, np.zeros((rows - len(batch),) + batch.shape[1:], batch.dtype)])


def predict_batched(model, images, batch_size, verbose="auto", callbacks=None):
    """``model``'s outputs (NumPy) on NumPy ``images``, in batches of one fixed size.

    The last batch is padded with blank images, and fewer images than ``batch_size`` run at
    the next power of two, so the compiled prediction function sees one batch shape (one
    trace, one XLA compilation) however many images a call has. Each batch goes through
    ``model.predict_on_batch`` (Keras's compiled prediction function, on every backend) and
    is written straight into outputs allocated once. Keras's ``predict`` keeps every batch's
    outputs and concatenates them at the end, then copies the result to NumPy: for the dense
    masks (about 1 MB an image at 128 px) that is three fresh copies of the whole result,
    and on this project's CPU VM first touching fresh memory costs about 3 us a page, which
    made ``predict`` of the default model at 128 px 1.7x slower on one core (24 against 41
    images/s, batch 8) than the same compiled function.

    Callbacks and the progress bar (``verbose``) are driven as Keras's ``predict`` drives
    them; a callback that sets ``model.stop_predicting`` ends the loop and the outputs hold
    the images predicted so far.
    """
    n = len(images)
    batch_size = fixed_batch(n, batch_size)
    steps = -(-n // batch_size)
    if not isinstance(callbacks, keras.callbacks.CallbackList):
        callbacks = keras.callbacks.CallbackList(
            callbacks, add_progbar=verbose != 0, verbose=verbose, epochs=1, steps=steps, model=model
        )
    model.stop_predicting = False
    callbacks.on_predict_begin()
    out, done = None, 0
    for step in range(steps):
        callbacks.on_predict_batch_begin(step)
        batch = images[done : done + batch_size]
        rows = len(batch)
        got = model.predict_on_batch(pad_rows(batch, batch_size))
        if out is None:
            out = {k: np.empty((n,) + np.shape(v)[1:], np.asarray(v).dtype) for k, v in got.items()}
        for k, v in got.items():
            out[k][done : done + rows] = np.asarray(v)[:rows]
        done += rows
        callbacks.on_predict_batch_end(step, {"outputs": got})
        if model.stop_predicting:
            break
    callbacks.on_predict_end()
    return {k: v[:done] for k, v in out.items()}


def predict_rois(model, images, batch_size):
    """Raw padded detections (NumPy) of model-size images, in batches of one fixed size."""
    from tfzoo.models.mask_rcnn import _distributed

    runner = _runner(model)
    if not _distributed(model):
        return predict_batched(runner, images, batch_size, verbose=0)
    # Several replicas: Keras's predict splits each batch over them.
    n = len(images)
    batch_size = fixed_batch(n, batch_size)
    images = pad_rows(images, -(-n // batch_size) * batch_size)
    out = runner.predict(images, batch_size=batch_size, verbose=0)
    return {k: np.asarray(v)[:n] for k, v in out.items()}


def detect(model, images, score_threshold=0.5, batch_size=8):
    """See :meth:`tfzoo.models.MaskRCNN.detect`."""
    if not 0 <= float(score_threshold) <= 1:
        raise ValueError(f"score_threshold must be in [0, 1], got {score_threshold!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    images = _check_images(images, model.image_shape[2])
    if not images:
        return []
    target = model.image_shape[:2]
    boxes = [Letterbox.fit(image.shape[:2], target) for image in images]
    batch = np.stack([lb.image_to_model(image) for lb, image in zip(boxes, images)])
    raw = model._predict_rois(batch, batch_size)
    names = model.class_names
    results = []
    for i, (lb, image) in enumerate(zip(boxes, images)):
        n = int(raw["num_detections"][i])
        keep = np.flatnonzero(raw["scores"][i, :n] >= score_threshold)
        model_boxes = raw["boxes"][i, keep].astype(np.float32)
        height, width = image.shape[:2]
        # Paste on the unclipped box (a box may run into the padding), report the clipped one.
        unclipped = model_boxes / np.float32(lb.scale)
        masks = np.zeros((len(keep), height, width), np.uint8)
        for j, k in enumerate(keep):
            masks[j] = paste_mask(raw["roi_masks"][i, k], unclipped[j], height, width)
        classes = raw["classes"][i, keep].astype(np.int32)
        result = {
            "boxes": lb.boxes_to_original(model_boxes).reshape(-1, 4),
            "classes": classes,
            "scores": raw["scores"][i, keep].astype(np.float32),
            "masks": masks,
        }
        if names is not None:
            result["names"] = [names[c] for c in classes]
        results.append(result)
    return results
