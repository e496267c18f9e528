"""Transfer a trained Mask R-CNN to a new set of classes.

:func:`transfer_mask_rcnn` builds a model with the source's configuration (backbone, frozen
flags, pyramid, head sizes) for ``num_classes`` classes, copies every weight whose shape fits
and leaves the class-specific layers (the box head's class logits and box deltas, the mask
head's per-class logits) as freshly initialised. Which weights were copied and which were not
is in the returned :class:`TransferReport`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import keras
import numpy as np

from tfzoo._validation import check_int

# What may not change in a transfer: the weights are tied to them.
_FIXED = ("feature_extractor", "image_shape")


@dataclass
class TransferReport:
    """What :func:`transfer_mask_rcnn` copied from the source model and what it did not.

    Attributes:
        source_classes, num_classes: the class counts of the source and of the new model.
        copied: names of the weights copied from the source (``component/.../kernel``).
        initialised: ``(name, source shape, new shape)`` of the class-specific weights, left
            as freshly initialised (even where the shapes happen to agree).
        mismatched: ``(name, source shape, new shape)`` of other weights whose shape does not
            fit (a changed head size), left as freshly initialised.
        components: for each weight name, the part of the model it belongs to (``backbone``,
            ``fpn``, ``rpn_head``, ``box_head``, ``mask_head``, ``other``).
    """

    source_classes: int
    num_classes: int
    copied: list = field(default_factory=list)
    initialised: list = field(default_factory=list)
    mismatched: list = field(default_factory=list)
    components: dict = field(default_factory=dict)

    def copied_in(self, component):
        """Names of the copied weights of one component (e.g. ``"backbone"``)."""
        return [n for n in self.copied if self.components[n] == component]

    def __str__(self):
        counts = Counter(self.components[n] for n in self.copied)
        totals = Counter(self.components.values())
        lines = [
            f"Mask R-CNN transfer: {self.source_classes} -> {self.num_classes} classes; "
            f"{len(self.copied)} of {len(self.components)} weights copied"
        ]
        for part in ("backbone", "fpn", "rpn_head", "box_head", "mask_head", "other"):
            if totals[part]:
                lines.append(f"  {part}: {counts[part]} of {totals[part]} copied")
        lines.append(f"initialised afresh (class-specific): {len(self.initialised)}")
        lines += [f"  {n}: {tuple(a)} -> {tuple(b)}" for n, a, b in self.initialised]
        lines.append(f"not copied (shape does not fit): {len(self.mismatched)}")
        lines += [f"  {n}: {tuple(a)} -> {tuple(b)}" for n, a, b in self.mismatched]
        return "\n".join(lines)


def transfer_mask_rcnn(source, num_classes, class_names=None, **changes):
    """A Mask R-CNN for new classes, initialised from a trained one.

    Args:
        source: a :class:`~tfzoo.models.MaskRCNN` or the path of its ``.keras`` file.
        num_classes: classes of the new model (background excluded).
        class_names: the new classes' names (``num_classes`` of them, or
            ``num_classes + 1`` with the background first); default none.
        **changes: other :class:`MaskRCNN` arguments to change (``max_detections``,
            ``score_threshold``, ``fc_units``...; a weight whose shape no longer fits is
            reported in ``mismatched``). ``image_shape`` and the feature extractor cannot
            change (build a new model for another input size).

    Returns:
        ``(model, report)``: a built, uncompiled model with the source's backbone (and its
        frozen flags), pyramid, RPN and head weights wherever the shapes fit, the class-specific
        layers freshly initialised; and a :class:`TransferReport`.

    Example:
        >>> model, report = transfer_mask_rcnn("shapes.keras", 2, ["cat", "dog"])
        >>> print(report)  # doctest: +SKIP
    """
    from tfzoo.models.mask_rcnn import MaskRCNN

    if not isinstance(source, MaskRCNN):
        if not isinstance(source, (str, bytes)) and not hasattr(source, "__fspath__"):
            raise ValueError(
                f"source must be a MaskRCNN or the path of its .keras file; got "
                f"{type(source).__name__}"
            )
        loaded = keras.saving.load_model(source, compile=False)
        if not isinstance(loaded, MaskRCNN):
            raise ValueError(f"{source} holds a {type(loaded).__name__}, not a MaskRCNN")
        source = loaded
    num_classes = check_int(num_classes, "num_classes")
    fixed = sorted(set(changes) & set(_FIXED))
    if fixed:
        raise ValueError(f"a transfer cannot change {fixed}: the weights depend on them")
    config = source.get_config()
    unknown = sorted(set(changes) - set(config))
    if unknown:
        raise ValueError(f"unknown MaskRCNN arguments {unknown}")
    config.update(changes, num_classes=num_classes, class_names=class_names)
    target = MaskRCNN.from_config(config)
    target.build((None, *target.image_shape))

    if len(source.weights) != len(target.weights):
        raise ValueError(
            f"the models differ in structure: {len(source.weights)} weights in the source, "
            f"{len(target.weights)} in the new model"
        )
    heads = (target.box_head.classifier, target.box_head.regressor, target.mask_head.logits)
    class_specific = {id(w) for layer in heads for w in layer.weights}
    parts = _components(target)
    report = TransferReport(int(source.num_classes), num_classes)
    for old, new in zip(source.weights, target.weights):
        name = _name(target, new)
        report.components[name] = parts.get(id(new), "other")
        if id(new) in class_specific:
            report.initialised.append((name, tuple(old.shape), tuple(new.shape)))
        elif tuple(old.shape) != tuple(new.shape):
            report.mismatched.append((name, tuple(old.shape), tuple(new.shape)))
        else:
            new.assign(np.asarray(keras.ops.convert_to_numpy(old)))
            report.copied.append(name)
    return target, report


def _name(model, variable):
    path = getattr(variable, "path", variable.name)
    prefix = f"{model.name}/"
    return path[len(prefix) :] if path.startswith(prefix) else path


def _components(model):
    """id(weight) -> the part of the Mask R-CNN it belongs to."""
    parts = {}
    for layer in model.feature_extractor.layers:
        part = "fpn" if layer.name.startswith("fpn_") else "backbone"
        for w in layer.weights:
            parts[id(w)] = part
    for part in ("rpn_head", "box_head", "mask_head"):
        for w in getattr(model, part).weights:
            parts[id(w)] = part
    return parts
