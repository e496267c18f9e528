"""Mask R-CNN: static shapes, XLA training step, strategies, export and saving."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfzoo.datasets import make_shapes
from tfzoo.distribute.strategy import mirrored_strategy
from tfzoo.models import MaskRCNN, build_mask_rcnn

SMALL = dict(
    pre_nms_top_k=200,
    post_nms_top_k=32,
    inference_post_nms_top_k=20,
    rpn_samples=64,
    num_rois=16,
    num_mask_rois=4,
    fc_units=32,
    mask_filters=16,
    mask_convs=1,
    max_detections=5,
)


@pytest.fixture(scope="module")
def shapes():
    return make_shapes(16, image_size=64, max_instances=3, seed=0)


def _targets(data, part=slice(None)):
    return {k: data[k][part] for k in ("boxes", "classes", "masks")}


def _small_model(**kwargs):
    return build_mask_rcnn(3, (64, 64, 3), fpn_filters=16, seed=0, **{**SMALL, **kwargs})


def test_outputs_are_static_and_padded(shapes):
    model = _small_model()
    assert isinstance(model, MaskRCNN) and model.strides == (4, 8, 16, 32)
    out = model.predict(shapes["images"][:3], batch_size=2, verbose=0)
    assert out["boxes"].shape == (3, 5, 4) and out["scores"].shape == (3, 5)
    assert out["classes"].shape == (3, 5) and out["masks"].shape == (3, 5, 64, 64)
    assert out["num_detections"].shape == (3,)
    for i, n in enumerate(out["num_detections"]):
        assert np.all(out["classes"][i, n:] == -1) and np.all(out["masks"][i, n:] == 0)
        assert np.all((out["classes"][i, :n] >= 1) & (out["classes"][i, :n] <= 3))
    # The graph itself has static shapes: trace with an unknown batch size.
    fn = tf.function(model.call).get_concrete_function(tf.TensorSpec((None, 64, 64, 3)))
    for key, spec in fn.structured_outputs.items():
        assert spec.shape[1:].is_fully_defined(), key


def test_training_step_compiles_with_xla_and_learns(shapes):
    model = _small_model()
    model.compile(keras.optimizers.Adam(3e-3), jit_compile=True)
    history = model.fit(
        shapes["images"][:8], _targets(shapes, slice(0, 8)), batch_size=4, epochs=6, verbose=0
    )
    losses = history.history
    assert set(losses) >= {"loss", "rpn_class_loss", "rpn_box_loss", "class_loss", "mask_loss"}
    assert np.all(np.isfinite(losses["loss"]))
    assert losses["loss"][-1] < 0.8 * losses["loss"][0], losses["loss"]
    assert model.train_function is not None
    evaluated = model.evaluate(
        shapes["images"][8:], _targets(shapes, slice(8, None)), batch_size=4, verbose=0
    )
    assert np.all(np.isfinite(evaluated))


def test_trains_under_mirrored_strategy(shapes):
    cpus = tf.config.list_logical_devices("CPU")
    strategy = mirrored_strategy(tuple(d.name for d in cpus[:2]))
    with strategy.scope():
        model = _small_model()
        model.compile(keras.optimizers.Adam(1e-3))
    kinds = {type(getattr(w, "value", w)).__name__ for w in model.trainable_weights}
    assert kinds == {"MirroredVariable"}
    history = model.fit(
        shapes["images"][:8], _targets(shapes, slice(0, 8)), batch_size=4, epochs=1, verbose=0
    )
    assert np.isfinite(history.history["loss"][-1])


def test_export_and_keras_save_give_the_same_detections(shapes, tmp_path):
    model = _small_model()
    images = shapes["images"][:2]
    want = model.predict(images, verbose=0)
    model.export(str(tmp_path / "saved"), verbose=False)
    reloaded = tf.saved_model.load(str(tmp_path / "saved"))  # keep it: serve uses its variables
    served = reloaded.serve(tf.constant(images))
    for key in want:
        np.testing.assert_allclose(np.asarray(served[key]), want[key], atol=1e-5, err_msg=key)
    model.save(tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert isinstance(loaded, MaskRCNN)
    config, again_config = model.get_config(), loaded.get_config()
    config.pop("feature_extractor"), again_config.pop("feature_extractor")
    assert again_config == config
    assert len(loaded.weights) == len(model.weights)
    again = loaded.predict(images, verbose=0)
    for key in want:
        np.testing.assert_allclose(again[key], want[key], atol=1e-5, err_msg=key)


def test_keras_applications_backbone():
    backbone = keras.applications.MobileNetV2(
        input_shape=(96, 96, 3), include_top=False, weights=None, alpha=0.35
    )
    layers = ["block_3_expand_relu", "block_6_expand_relu", "block_13_expand_relu", "out_relu"]
    model = build_mask_rcnn(2, (96, 96, 3), backbone=backbone, backbone_layers=layers, **SMALL)
    assert model.strides == (4, 8, 16, 32)
    out = model.predict(np.zeros((1, 96, 96, 3), "float32"), verbose=0)
    assert out["masks"].shape == (1, 5, 96, 96)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="image_shape"):
        build_mask_rcnn(3, (64, 64))
    with pytest.raises(ValueError, match="num_classes"):
        build_mask_rcnn(0, (64, 64, 3))
    single = keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Conv2D(4, 3, strides=4)])
    with pytest.raises(ValueError, match="backbone_layers"):
        build_mask_rcnn(3, (64, 64, 3), backbone=single)
    model = _small_model()
    with pytest.raises(ValueError, match="missing 'masks'"):
        model.compute_losses(np.zeros((1, 64, 64, 3), "float32"), {"boxes": 0, "classes": 0})
