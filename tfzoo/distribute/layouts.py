"""Model parallelism on Keras's JAX backend: tfzoo's layouts for ``ModelParallel``.

``keras.distribution.ModelParallel`` lays a model's variables out over a
``DeviceMesh`` of two axes, ``"batch"`` (data parallel: each batch is split
over it) and ``"model"`` (each listed variable is split over it), by a
``LayoutMap``: regular expressions, matched in full against each variable's
``path``, and the mesh axis of each of the variable's dimensions. Keras
(GSPMD, through ``jax.jit``) inserts the communication, so the sharded model
computes what the unsharded one does: only where the numbers live changes.
:func:`layout_map` gives that map for tfzoo's builders and
:func:`get_model_parallel` the distribution:

=====================  ==========================================  ===================
builder                variables split over ``"model"``            split dimension
=====================  ==========================================  ===================
small_cnn              ``fc/kernel`` (588x200), ``fc/bias``        its 200 columns
                       ``output/kernel`` (200x10)                  its 200 rows
perceptron             ``perceptron/W1``, ``perceptron/b1``        hidden columns
                       ``perceptron/W2``                           hidden rows
lstm_classifier,       every ``lstm_cell/kernel``,                 the ``4 * units``
lstm_forecaster        ``lstm_cell/recurrent_kernel``,             gate columns
                       ``lstm_cell/bias`` (both directions)
char_rnn               the LSTM kernels as above,                  gate columns
                       ``embedding/embeddings``                    the embedding width
                       ``logits/kernel``                           its ``units`` rows
embedding_recommender  ``user_embeddings``, ``item_embeddings``    the factors
=====================  ==========================================  ===================

A dense layer followed by another is split the Megatron way: the first's
columns and the second's rows, so the hidden activations stay split and
only the second layer's output is summed over the ``"model"`` axis. The
small CNN's convolutions (5,136 weights, most of the compute per weight)
and the small heads stay replicated on every device. The LSTM kernels are
split in contiguous column blocks (with 2 devices on ``"model"``, the input
and forget gates on one, the cell and output gates on the other). Every
other variable is replicated.

A split dimension must divide by the number of devices on the ``"model"``
axis (JAX shards evenly): :func:`get_model_parallel` checks each variable
as it is created and raises a ``ValueError`` naming it, and
:func:`layout_map` of a built model checks its variables at once.

Use (``KERAS_BACKEND=jax``; on a CPU,
``XLA_FLAGS=--xla_force_host_platform_device_count=4`` gives 4 host devices)::

    import keras
    import tfzoo.distribute as td
    from tfzoo.models import build_small_cnn

    distribution = td.get_model_parallel("small_cnn", mesh_shape=(2, 2))
    with distribution.scope():          # or keras.distribution.set_distribution(...)
        model = build_small_cnn()       # fc/kernel: 588x100 on each device
        model.compile("adam", "sparse_categorical_crossentropy")
        model.fit(x, y, batch_size=64)  # batches split over "batch" (2 devices)

An estimator takes it wrapped as a strategy (variables are created, and
``fit`` runs, in its scope; a batch that does not split over the ``"batch"``
axis is padded as under ``DataParallel``)::

    CNNClassifier(strategy=td.get_strategy(td.get_model_parallel("small_cnn")))
"""

from __future__ import annotations

import logging
import math
import re

import keras

from tfzoo._backend import backend as keras_backend

logger = logging.getLogger("tfzoo.distribute")

BATCH_AXIS = "batch"
MODEL_AXIS = "model"

_M = MODEL_AXIS
_ANY = r"(?:.*/)?"  # the variable's layer may sit inside other layers or models
_LSTM = {
    _ANY + r"lstm_cell/kernel": (None, _M),
    _ANY + r"lstm_cell/recurrent_kernel": (None, _M),
    _ANY + r"lstm_cell/bias": (_M,),
}

#: Per builder (its name without ``build_``): path pattern -> the mesh axis of
#: each dimension (``None``: not split). Patterns are matched in full
#: (``re.fullmatch``) against ``variable.path``, as ``keras.distribution.LayoutMap``
#: does; the axis names are those of a mesh ``("batch", "model")``.
LAYOUTS = {
    "small_cnn": {
        _ANY + r"fc/kernel": (None, _M),
        _ANY + r"fc/bias": (_M,),
        _ANY + r"output/kernel": (_M, None),
    },
    "perceptron": {
        _ANY + r"perceptron/W1": (None, _M),
        _ANY + r"perceptron/b1": (_M,),
        _ANY + r"perceptron/W2": (_M, None),
    },
    "lstm_classifier": dict(_LSTM),
    "lstm_forecaster": dict(_LSTM),
    "char_rnn": {
        **_LSTM,
        _ANY + r"embedding/embeddings": (None, _M),
        _ANY + r"logits/kernel": (_M, None),
    },
    "embedding_recommender": {
        _ANY + r"matrix_factorization/user_embeddings": (None, _M),
        _ANY + r"matrix_factorization/item_embeddings": (None, _M),
    },
}


def _require_jax(feature):
    name = keras_backend()
    if name != "jax":
        raise RuntimeError(
            f"tfzoo.distribute.{feature} needs Keras's JAX backend (KERAS_BACKEND=jax before "
            f"keras is imported), but this process runs Keras on the {name!r} backend: "
            "keras.distribution.ModelParallel lays variables out over JAX devices; on "
            "TensorFlow, tfzoo.distribute.StagedModel places a model's stages on devices."
        )


def _family(model):
    """The builder family of ``model`` (a name, a builder, or None for a keras.Model)."""
    if isinstance(model, keras.Model):
        return None
    name = getattr(model, "__name__", model) if callable(model) else model
    if not isinstance(name, str):
        raise TypeError(
            "model must be a tfzoo builder's name (e.g. 'small_cnn'), the builder itself "
            f"(build_small_cnn) or a built keras.Model, got {type(model).__name__}: {model!r}"
        )
    key = name.removeprefix("build_")
    if key not in LAYOUTS:
        raise ValueError(
            f"no tfzoo layout for {name!r}: model must be one of {sorted(LAYOUTS)} (or "
            "build_<name>, or a built keras.Model of one of them); build a "
            "keras.distribution.LayoutMap of your own for other models"
        )
    return key


def _all_rules():
    rules = {}
    for family_rules in LAYOUTS.values():
        rules.update(family_rules)
    return rules


def _model_axis_size(device_mesh, axis):
    if axis not in device_mesh.axis_names:
        raise ValueError(
            f"the device mesh has no {axis!r} axis to split variables over; its axes are "
            f"{tuple(device_mesh.axis_names)}"
        )
    return int(dict(zip(device_mesh.axis_names, device_mesh.shape))[axis])


def _check_split(path, shape, axes, device_mesh):
    """Raise ``ValueError`` unless ``axes`` split a ``shape`` variable evenly over the mesh."""
    shape = tuple(int(d) for d in shape)
    if len(shape) != len(axes):
        raise ValueError(
            f"tfzoo's layout for {path!r} is for {len(axes)} dimensions {axes}, but the "
            f"variable has shape {shape}"
        )
    sizes = dict(zip(device_mesh.axis_names, device_mesh.shape))
    for dim, (length, axis) in enumerate(zip(shape, axes)):
        if axis is not None and length % int(sizes[axis]):
            raise ValueError(
                f"{path!r} of shape {shape}: dimension {dim} ({length}) does not split evenly "
                f"over the {sizes[axis]} devices of the mesh's {axis!r} axis; choose sizes "
                f"that are multiples of {sizes[axis]} or a mesh_shape with fewer devices on "
                f"{axis!r}"
            )


def _axes(axes, axis):
    """``axes`` with tfzoo's ``"model"`` axis renamed to ``axis``."""
    return tuple(axis if a == MODEL_AXIS else a for a in axes)


def layout_map(model, device_mesh, axis=MODEL_AXIS):
    """The ``keras.distribution.LayoutMap`` that splits a tfzoo model over ``device_mesh``.

    Args:
        model: a builder's name (``"small_cnn"``, ``"perceptron"``,
            ``"lstm_classifier"``, ``"lstm_forecaster"``, ``"char_rnn"``,
            ``"embedding_recommender"``, with or without ``build_``), the builder
            itself (``build_small_cnn``), or a built ``keras.Model``. For a name
            the map holds the family's path patterns (see the module docstring),
            for variables yet to be created; for a built model it holds the exact
            paths of its variables that some tfzoo pattern matches, each checked
            to split evenly over the mesh.
        device_mesh: a ``keras.distribution.DeviceMesh`` with an ``axis`` axis
            (and usually a ``"batch"`` axis).
        axis: the mesh axis the variables are split over.

    Returns:
        A ``keras.distribution.LayoutMap``; variables it does not list are
        replicated by ``ModelParallel``.

    Raises:
        ValueError: an unknown builder name, a mesh without ``axis``, or a built
            model none of whose variables tfzoo splits, or one whose split
            dimension does not divide by the devices on ``axis``.
        TypeError: ``model`` of another type.
    """
    if not isinstance(device_mesh, keras.distribution.DeviceMesh):
        raise TypeError(
            "device_mesh must be a keras.distribution.DeviceMesh, got "
            f"{type(device_mesh).__name__}: {device_mesh!r}"
        )
    _model_axis_size(device_mesh, axis)
    family = _family(model)
    layouts = keras.distribution.LayoutMap(device_mesh)
    if family is not None:
        for pattern, axes in LAYOUTS[family].items():
            layouts[pattern] = _axes(axes, axis)
        return layouts
    rules = _all_rules()
    chosen = {}
    for variable in model.weights:
        matched = [pattern for pattern in rules if re.fullmatch(pattern, variable.path)]
        if matched:
            axes = _axes(rules[matched[0]], axis)
            _check_split(variable.path, variable.shape, axes, device_mesh)
            chosen[variable.path] = axes
    # (a LayoutMap's `in` is always True: its lookup returns None for a path it lacks)
    for path, axes in chosen.items():
        layouts[path] = axes
    if not chosen:
        raise ValueError(
            f"no variable of model {model.name!r} is one that tfzoo splits (paths such as "
            f"{[v.path for v in model.weights[:3]]}): ModelParallel would replicate them all, "
            "which is DataParallel; give the builder's name or a LayoutMap of your own"
        )
    return layouts


class ModelParallel(keras.distribution.ModelParallel):
    """``keras.distribution.ModelParallel`` that checks each layout against its variable.

    What :func:`get_model_parallel` returns (not exported: use it as Keras's).

    A variable whose split dimension does not divide by its mesh axis gets a
    ``ValueError`` naming it, instead of JAX's ``IndivisibleError`` deep in
    the variable's initialisation.
    """

    def get_variable_layout(self, variable):
        layout = super().get_variable_layout(variable)
        if getattr(variable, "_layout", None) is None and hasattr(layout, "axes"):
            _check_split(variable.path, variable.shape, layout.axes, self.device_mesh)
        return layout


def _default_mesh_shape(n_devices):
    # two devices on "model" when they split evenly, the rest on "batch"
    return (n_devices // 2, 2) if n_devices % 2 == 0 else (1, n_devices)


def get_model_parallel(model, mesh_shape=None, devices=None, batch_dim_name=BATCH_AXIS):
    """A ``keras.distribution.ModelParallel`` that splits a tfzoo model (JAX backend).

    The mesh is ``(batch, model)`` with axis names ``(batch_dim_name, "model")``:
    each batch is split over the first axis, the variables of
    :func:`layout_map` over the second, everything else replicated. It logs
    what it built (logger ``tfzoo.distribute``, level INFO). Enter its
    ``scope()`` (or ``keras.distribution.set_distribution`` it) before the model
    is built and while it trains; wrap it with
    :func:`tfzoo.distribute.get_strategy` for an estimator's ``strategy=``.

    Args:
        model: as in :func:`layout_map` (a builder's name, a builder, or a
            built model of one).
        mesh_shape: ``(batch_devices, model_devices)``, whose product is the
            number of ``devices``. Default: 2 devices on ``"model"`` and the rest
            on ``"batch"`` (``(2, 2)`` on 4 devices); all on ``"model"`` for an odd
            number of devices.
        devices: the JAX devices (default ``jax.devices()``).
        batch_dim_name: the name of the mesh's batch axis.

    Returns:
        A ``keras.distribution.ModelParallel`` (a subclass that checks, as each
        variable is created, that its split dimension divides by the devices on
        ``"model"``, and raises a ``ValueError`` naming it otherwise).

    Raises:
        RuntimeError: off Keras's JAX backend.
        ValueError: a ``mesh_shape`` that is not two positive integers whose
            product is the number of devices, or see :func:`layout_map`.
    """
    _require_jax("get_model_parallel")
    import jax

    devices = list(jax.devices() if devices is None else devices)
    if not devices:
        raise ValueError("devices must list at least one JAX device, got none")
    if mesh_shape is None:
        mesh_shape = _default_mesh_shape(len(devices))
    shape = tuple(mesh_shape) if isinstance(mesh_shape, (tuple, list)) else None
    if (
        shape is None
        or len(shape) != 2
        or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 1 for d in shape)
        or math.prod(shape) != len(devices)
    ):
        raise ValueError(
            "mesh_shape must be two positive integers (batch devices, model devices) whose "
            f"product is the number of devices, {len(devices)}; got {mesh_shape!r}"
        )
    if batch_dim_name == MODEL_AXIS:
        raise ValueError(f"batch_dim_name must not be {MODEL_AXIS!r}, the model axis's name")
    mesh = keras.distribution.DeviceMesh(shape, (batch_dim_name, MODEL_AXIS), devices)
    layouts = layout_map(model, mesh)
    distribution = ModelParallel(layout_map=layouts, batch_dim_name=batch_dim_name)
    logger.info(
        "tfzoo layouts for %s -> keras.distribution.ModelParallel over %d %s devices, mesh "
        "%s (batch x model): %d variable patterns split over 'model'",
        getattr(model, "name", None) or getattr(model, "__name__", model),
        len(devices),
        devices[0].platform,
        "x".join(map(str, shape)),
        len(layouts),
    )
    return distribution
