"""Backbones for Mask R-CNN: the small from-scratch one and named ``keras.applications`` models.

:func:`build_backbone` returns a ``keras.Model`` from images in ``[0, 1]`` (the range every tfzoo
detection model takes) to the feature maps of strides 4, 8, 16 and 32 (C2..C5), finest first.
A named ``keras.applications`` backbone carries its own preprocessing inside the model, so
``fit``, ``predict`` and ``detect`` take the same ``[0, 1]`` images whatever the backbone:

- ``"resnet50"`` (``"ResNet50"``): ``preprocess_input``'s "caffe" mode, i.e. pixels scaled to
  0..255, RGB -> BGR and the ImageNet channel means (103.939, 116.779, 123.68) subtracted;
- ``"mobilenet_v3_large"`` (``"MobileNetV3Large"``) and ``"efficientnet_v2_b0"``
  (``"EfficientNetV2B0"``): pixels scaled to 0..255, then the application's own preprocessing
  layers (``include_preprocessing=True``: to [-1, 1] for MobileNetV3, ImageNet mean and standard
  deviation for EfficientNetV2-B0).

The tapped layers are found from the network's structure (the last layer at each stride), not
from layer names, which Keras numbers per session for some applications.

Stages, for ``frozen_stages``: stage 1 is the stem (everything up to the last stride-2 feature
map), stages 2..5 end at C2..C5. ``frozen_stages=k`` makes stages 1..k not trainable (``0``
freezes nothing, ``5`` the whole backbone), as detectron2's ``FREEZE_AT`` counts them.
``freeze_batch_norm=True`` makes every batch normalisation layer of the backbone not trainable;
in Keras 3 such a layer also runs in inference mode (its moving statistics, from pretraining,
are used and left unchanged), which is what small detection batches need.
"""

from __future__ import annotations

import math

import keras
from keras import ops

from tfzoo._saving import serializable

CAFFE_MEANS_BGR = (103.939, 116.779, 123.68)

# canonical name -> (keras.applications class name, preprocessing mode, extra keyword arguments)
BACKBONES = {
    "resnet50": ("ResNet50", "caffe", {}),
    "mobilenet_v3_large": ("MobileNetV3Large", "scale_255", {"include_preprocessing": True}),
    "efficientnet_v2_b0": ("EfficientNetV2B0", "scale_255", {"include_preprocessing": True}),
}
PYRAMID_STRIDES = (4, 8, 16, 32)


def _key(name):
    return str(name).lower().replace("_", "").replace("-", "")


_ALIASES = {_key(k): k for k in BACKBONES} | {_key(v[0]): k for k, v in BACKBONES.items()}


def backbone_name(name):
    """The canonical name (``"resnet50"``...) of a backbone named either way, else ValueError."""
    if not isinstance(name, str) or _key(name) not in _ALIASES and _key(name) != "small":
        names = ["small", *BACKBONES, *(v[0] for v in BACKBONES.values())]
        raise ValueError(f"backbone must be a Keras model or one of {names}; got {name!r}")
    return "small" if _key(name) == "small" else _ALIASES[_key(name)]


@serializable
class BackbonePreprocessing(keras.layers.Layer):
    """Images in ``[0, 1]`` to a pretrained backbone's input range.

    ``mode="caffe"``: ``x * 255``, RGB -> BGR, minus the ImageNet channel means (as
    ``keras.applications.resnet.preprocess_input``). ``mode="scale_255"``: ``x * 255`` (for
    applications that preprocess inside, ``include_preprocessing=True``).
    """

    MODES = ("caffe", "scale_255")

    def __init__(self, mode="caffe", **kwargs):
        super().__init__(**kwargs)
        if mode not in self.MODES:
            raise ValueError(f"mode must be one of {self.MODES}, got {mode!r}")
        self.mode = mode

    def call(self, images):
        x = ops.cast(images, self.compute_dtype) * 255.0
        if self.mode == "caffe":
            x = ops.flip(x, axis=-1) - ops.convert_to_tensor(CAFFE_MEANS_BGR, x.dtype)
        return x

    def compute_output_shape(self, shape):
        return shape

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}


def build_small_backbone(image_shape, widths=(32, 64, 96, 128, 160), name="small_backbone"):
    """A small convolutional backbone that trains from scratch on a CPU.

    A stride-2 stem, then one stage per level (a stride-2 3x3 convolution and
    a 3x3 convolution, each with batch norm and ReLU). Outputs the maps of
    strides 4, 8, 16 and 32 (C2..C5). Takes images in [0, 1].
    """

    def conv(x, filters, stride, label):
        x = keras.layers.Conv2D(
            filters, 3, strides=stride, padding="same", use_bias=False, name=f"{label}_conv"
        )(x)
        x = keras.layers.BatchNormalization(name=f"{label}_bn")(x)
        return keras.layers.ReLU(name=f"{label}_relu")(x)

    images = keras.Input(shape=tuple(image_shape), name="images")
    x = conv(images, widths[0], 2, "stem")
    outputs = []
    for level, filters in enumerate(widths[1:], start=2):
        x = conv(x, filters, 2, f"c{level}a")
        x = conv(x, filters, 1, f"c{level}b")
        outputs.append(x)
    return keras.Model(images, outputs, name=name)


def _stride_taps(model, image_shape, strides):
    """The last non-padding layer whose output has the size of each stride (finest first)."""
    height, width = image_shape[:2]
    found = {}
    for layer in model.layers:
        if isinstance(layer, (keras.layers.InputLayer, keras.layers.ZeroPadding2D)):
            continue
        shape = getattr(getattr(layer, "output", None), "shape", None)
        if shape is None or len(shape) != 4:
            continue
        for stride in strides:
            if tuple(shape[1:3]) == (math.ceil(height / stride), math.ceil(width / stride)):
                found[stride] = layer
    missing = [s for s in strides if s not in found]
    if missing:
        raise ValueError(
            f"{model.name} has no feature map of stride {missing} for images of shape "
            f"{tuple(image_shape)}; use a height and width that are multiples of 32"
        )
    return [found[s] for s in strides]


def build_application_backbone(name, image_shape, weights=None):
    """A named ``keras.applications`` backbone with its preprocessing, tapped at C2..C5.

    ``weights`` is passed to the application (``"imagenet"`` downloads the ImageNet weights on
    first use into ``~/.keras/models``; ``None``: random initialisation).
    """
    name = backbone_name(name)
    if name == "small":
        raise ValueError("'small' is not a keras.applications backbone")
    class_name, mode, extra = BACKBONES[name]
    image_shape = tuple(int(s) for s in image_shape)
    if image_shape[-1] != 3:
        raise ValueError(
            f"the {class_name} backbone takes 3-channel (RGB) images; got image_shape {image_shape}"
        )
    application = getattr(keras.applications, class_name)(
        include_top=False, weights=weights, input_shape=image_shape, **extra
    )
    taps = _stride_taps(application, image_shape, PYRAMID_STRIDES)
    tapped = keras.Model(application.inputs, [t.output for t in taps], name=f"{name}_taps")
    images = keras.Input(shape=image_shape, name="images")
    features = tapped(BackbonePreprocessing(mode, name=f"{name}_preprocessing")(images))
    return keras.Model(images, features, name=f"{name}_backbone")


def backbone_stages(backbone, image_shape):
    """The layers of each stage (stem, C2..C5 or up to each output) of a multi-output backbone.

    A nested model (a ``keras.applications`` network inside the preprocessing wrapper) is looked
    into. Returns a list of lists of layers, stage 1 first; each stage's layers are those
    upstream of its last feature map and not in an earlier stage.
    """
    inner = backbone
    nested = [layer for layer in backbone.layers if isinstance(layer, keras.Model)]
    if len(nested) == 1 and len(nested[0].outputs) == len(backbone.outputs):
        inner = nested[0]
    ends = []
    try:
        ends.append(_stride_taps(inner, image_shape, (2,))[0].output)
    except ValueError:
        ends.append(None)  # no stride-2 map: no separate stem
    ends.extend(inner.outputs)
    stages, seen = [], set()
    for end in ends:
        if end is None:
            stages.append([])
            continue
        upstream = keras.Model(inner.inputs, end).layers
        stage = [layer for layer in upstream if id(layer) not in seen]
        seen.update(id(layer) for layer in stage)
        stages.append(stage)
    return stages


def freeze_backbone(backbone, image_shape, frozen_stages=0, freeze_batch_norm=False):
    """Make the first ``frozen_stages`` stages and (optionally) the batch norms not trainable."""
    stages = backbone_stages(backbone, image_shape)
    if not 0 <= frozen_stages <= len(stages):
        raise ValueError(
            f"frozen_stages must be in [0, {len(stages)}] (stem + {len(stages) - 1} pyramid "
            f"stages) for this backbone; got {frozen_stages}"
        )
    if frozen_stages >= 1 and not stages[0]:
        raise ValueError(
            "frozen_stages counts the stem as stage 1, but this backbone has no stride-2 "
            "feature map; set layer.trainable = False yourself"
        )
    for stage in stages[:frozen_stages]:
        for layer in stage:
            layer.trainable = False
    if freeze_batch_norm:
        for layer in _all_layers(backbone):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    return backbone


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)
