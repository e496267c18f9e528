"""Model parallelism: a model split into stages, each on its own device.

Placing only the forward pass (``with tf.device(...)`` around each stage's
call) is not enough: the gradients of a single ``tape.gradient`` call and the
optimizer's slot variables (Adam's moments) then land on the default device.
:class:`StagedModel` places all four things per stage: the stage's variables
(created under its device), its forward ops, its gradient ops (backprop runs
stage by stage, from the last, each under its device, passing the gradient
of the stage's input to the stage before) and its optimizer slots and update
ops (one optimizer per stage, built under the stage's device).
"""

from __future__ import annotations

import keras

from tfzoo._backend import require_tensorflow_backend
from tfzoo._backend import tensorflow as tf


class StagedModel(keras.Model):
    """A sequential pipeline of stages, stage ``i`` on ``devices[i]``.

    Args:
        stages: Keras layers or models applied one after another.
        devices: one device name per stage (e.g. ``["/CPU:0", "/CPU:1"]`` or
            GPUs); ``tfzoo.distribute.logical_devices()`` lists them.
        log_placement: print each stage's device and variables when built.

    Compile it with one optimizer as usual; each stage gets its own copy of it
    (same class and configuration), so slot variables stay with the stage.
    The copies follow ``model.optimizer.learning_rate``: each training step
    first copies it into every stage's optimizer, so callbacks that set it
    (``LearningRateScheduler``, ``ReduceLROnPlateau``) reach all stages.

    Example:
        >>> model = StagedModel([keras.layers.Dense(64, "relu"), keras.layers.Dense(1)],
        ...                     ["/CPU:0", "/CPU:1"])
        >>> model.compile("adam", "mse"); model.fit(x, y)
    """

    def __init__(self, stages, devices, log_placement=False, **kwargs):
        require_tensorflow_backend("tfzoo.distribute.StagedModel (tf.device placement)")
        super().__init__(**kwargs)
        if len(stages) != len(devices) or not stages:
            raise ValueError(
                f"need one device per stage, got {len(stages)} stages and {len(devices)} devices"
            )
        self.stages = list(stages)
        self.devices = [str(d) for d in devices]
        self.log_placement = bool(log_placement)
        self._stage_optimizers = None

    def build(self, input_shape):
        shape = tuple(input_shape)
        for stage, device in zip(self.stages, self.devices):
            with tf.device(device):
                stage.build(shape)
            shape = tuple(stage.compute_output_shape(shape))
            if self.log_placement:
                names = [f"{w.path} -> {w.value.device}" for w in stage.weights]
                print(f"[tfzoo placement] stage {stage.name} on {device}: {names}")
        self.built = True
        if getattr(self, "optimizer", None) is not None:
            self._stage_optimizers = None
            self._optimizers()

    def compile(self, optimizer="rmsprop", *args, **kwargs):
        super().compile(optimizer, *args, **kwargs)
        # One optimizer per stage, created eagerly (not while tracing train_step).
        self._stage_optimizers = None
        if self.built:
            self._optimizers()

    def call(self, inputs, training=None):
        x = inputs
        for i, (stage, device) in enumerate(zip(self.stages, self.devices)):
            with tf.device(device), tf.name_scope(f"stage{i}_forward"):
                x = stage(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        shape = tuple(input_shape)
        for stage in self.stages:
            shape = tuple(stage.compute_output_shape(shape))
        return shape

    def _optimizers(self):
        if self._stage_optimizers is None:
            config = self.optimizer.get_config()
            self._stage_optimizers = []
            for stage, device in zip(self.stages, self.devices):
                with tf.device(device):  # its counters, learning rate and slots
                    opt = self.optimizer.__class__.from_config(config)
                    opt.build(stage.trainable_variables)
                self._stage_optimizers.append(opt)
        return self._stage_optimizers

    def _follow_learning_rate(self, optimizer):
        # Callbacks set model.optimizer.learning_rate (a variable, unless the
        # optimizer was given a schedule: then every copy runs the same
        # schedule on its own step counter and there is nothing to copy).
        source = self.optimizer._learning_rate
        if isinstance(source, keras.Variable) and isinstance(
            optimizer._learning_rate, keras.Variable
        ):
            optimizer._learning_rate.assign(source)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        optimizers = self._optimizers()
        tapes, inputs, outputs = [], [], []
        h = x
        for i, (stage, device) in enumerate(zip(self.stages, self.devices)):
            with tf.device(device), tf.name_scope(f"stage{i}_forward"):
                with tf.GradientTape() as tape:
                    if i > 0:
                        tape.watch(h)
                    out = stage(h, training=True)
                    if i == len(self.stages) - 1:
                        loss = self.compute_loss(x=x, y=y, y_pred=out, sample_weight=sample_weight)
            tapes.append(tape)
            inputs.append(h)
            outputs.append(out)
            h = out
        upstream = None
        target = loss
        for i in reversed(range(len(self.stages))):
            stage, device = self.stages[i], self.devices[i]
            with tf.device(device):  # gradient ops: "gradient_tape/stage{i}_forward/..."
                sources = list(stage.trainable_variables) + ([inputs[i]] if i > 0 else [])
                grads = tapes[i].gradient(target, sources, output_gradients=upstream)
            with tf.device(device), tf.name_scope(f"stage{i}_apply"):
                self._follow_learning_rate(optimizers[i])
                n = len(stage.trainable_variables)
                optimizers[i].apply_gradients(zip(grads[:n], stage.trainable_variables))
            if i > 0:
                upstream = grads[n]
                target = outputs[i - 1]
        for metric in self.metrics:
            if metric.name == "loss":
                metric.update_state(loss)
            else:
                metric.update_state(y, outputs[-1], sample_weight)
        return self.get_metrics_result()

    def get_config(self):
        return {
            **super().get_config(),
            "stages": [keras.saving.serialize_keras_object(s) for s in self.stages],
            "devices": self.devices,
            "log_placement": self.log_placement,
        }

    @classmethod
    def from_config(cls, config):
        stages = [keras.saving.deserialize_keras_object(s) for s in config.pop("stages")]
        return cls(stages, **config)


def logical_devices(kind="CPU"):
    """Names of the logical devices of one kind (e.g. for :class:`StagedModel`)."""
    require_tensorflow_backend("tfzoo.distribute.logical_devices")
    return [d.name for d in tf.config.list_logical_devices(kind)]
