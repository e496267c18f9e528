"""Model parallelism on 2 logical CPUs: everything of a stage lives on its device."""

import keras
import numpy as np
import tensorflow as tf

from tfzoo.distribute import StagedModel, logical_devices


def _layers():
    return [keras.layers.Dense(8, activation="tanh", name="s0"), keras.layers.Dense(1, name="s1")]


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    return x, (x[:, :1] * x[:, 1:2]).astype("float32")


def test_variables_ops_gradients_and_slots_are_placed_per_stage():
    devices = logical_devices("CPU")[:2]
    assert len(devices) == 2
    model = StagedModel(_layers(), devices)
    model.build((None, 4))
    model.compile(keras.optimizers.Adam(0.01), "mse")
    x, y = _data()
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    for i, (stage, device) in enumerate(zip(model.stages, devices)):
        suffix = device.split("/")[-1]  # device:CPU:i
        for w in stage.weights:
            assert w.value.device.endswith(suffix), (w.path, w.value.device)
        slots = model._stage_optimizers[i].variables
        assert len(slots) > 2, "no optimizer slots"
        for v in slots:
            assert v.value.device.endswith(suffix), (v.path, v.value.device)

    step = tf.function(model.train_step)
    graph = step.get_concrete_function(
        (tf.TensorSpec([None, 4], tf.float32), tf.TensorSpec([None, 1], tf.float32))
    ).graph
    seen = {}
    for op in graph.get_operations():
        if op.type == "Placeholder":  # captured variable handles: inputs, not ops
            continue
        for i in range(len(devices)):
            prefixes = {
                "forward": f"stage{i}_forward/",
                "backward": f"gradient_tape/stage{i}_forward/",  # d(stage i)/d(...)
                "apply": f"stage{i}_apply/",
            }
            for part, prefix in prefixes.items():
                if op.name.startswith(prefix):
                    seen.setdefault((i, part), 0)
                    seen[(i, part)] += 1
                    if op.device:
                        assert op.device.upper().endswith(f"CPU:{i}"), (op.name, op.device)
                    else:
                        # Ops on a variable handle (reads, assigns, the optimizer's
                        # resource updates) are placed with the variable itself,
                        # whose device is checked above.
                        assert any(t.dtype == tf.resource for t in op.inputs), op.name
    assert set(seen) == {(i, p) for i in range(2) for p in ("forward", "backward", "apply")}


def test_staged_training_matches_the_unsplit_model():
    x, y = _data()
    devices = logical_devices("CPU")[:2]
    staged = StagedModel(_layers(), devices)
    staged.build((None, 4))
    plain = keras.Sequential([keras.Input((4,))] + _layers())
    plain.set_weights(staged.get_weights())
    for m in (staged, plain):
        m.compile(keras.optimizers.Adam(0.01), "mse")
    h1 = staged.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)
    h2 = plain.fit(x, y, batch_size=16, epochs=3, verbose=0, shuffle=False)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-5)
    for a, b in zip(staged.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)


class _StageRates(keras.callbacks.Callback):
    """The learning rate each stage's optimizer used in each epoch (put it first)."""

    def __init__(self):
        super().__init__()
        self.rates = []

    def on_epoch_end(self, epoch, logs=None):
        self.rates.append([float(o.learning_rate) for o in self.model._stage_optimizers])


def _staged_and_plain():
    staged = StagedModel(_layers(), logical_devices("CPU")[:2])
    staged.build((None, 4))
    plain = keras.Sequential([keras.Input((4,))] + _layers())
    plain.set_weights(staged.get_weights())
    for m in (staged, plain):
        m.compile(keras.optimizers.SGD(0.1), "mse")
    return staged, plain


def test_stage_optimizers_follow_a_learning_rate_schedule():
    x, y = _data()
    staged, plain = _staged_and_plain()
    rates = _StageRates()
    schedule = [0.1, 0.02, 0.004]

    def scheduler():
        return keras.callbacks.LearningRateScheduler(lambda epoch: schedule[epoch])

    fit = dict(batch_size=16, epochs=3, verbose=0, shuffle=False)
    h1 = staged.fit(x, y, callbacks=[rates, scheduler()], **fit)
    h2 = plain.fit(x, y, callbacks=[scheduler()], **fit)
    np.testing.assert_allclose(rates.rates, [[r, r] for r in schedule], rtol=1e-6)
    np.testing.assert_allclose(h1.history["loss"], h2.history["loss"], rtol=1e-5)
    for a, b in zip(staged.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_stage_optimizers_follow_reduce_lr_on_plateau():
    x, y = _data()
    staged, plain = _staged_and_plain()
    rates = _StageRates()

    def plateau():  # min_delta so large that every epoch counts as a plateau
        return keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=1e9)

    fit = dict(batch_size=16, epochs=3, verbose=0, shuffle=False)
    staged.fit(x, y, callbacks=[rates, plateau()], **fit)
    assert float(staged.optimizer.learning_rate) == np.float32(0.025)
    plain.fit(x, y, callbacks=[plateau()], **fit)
    # epoch 1 improves on "no best yet"; epoch 2 is a plateau: the rate is halved after it
    np.testing.assert_allclose(rates.rates, [[r, r] for r in (0.1, 0.1, 0.05)], rtol=1e-6)
    for a, b in zip(staged.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-5)
