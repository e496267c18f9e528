"""The public API is pinned: a change here is a change users see."""

import os
import subprocess
import sys
import textwrap

import pytest

EXPECTED = {
    "tfzoo": [
        "CNNClassifier",
        "ConvBlock",
        "KerasClassifier",
        "KerasRegressor",
        "LSTMClassifier",
        "LSTMEncoder",
        "LSTMRegressor",
        "Linear",
        "LinearRegressor",
        "MatrixFactorization",
        "Perceptron",
        "PerceptronClassifier",
        "PerceptronRegressor",
        "TextGenerator",
        "build_char_rnn",
        "build_embedding_recommender",
        "build_linear_regression",
        "build_lstm_classifier",
        "build_lstm_forecaster",
        "build_mask_rcnn",
        "build_perceptron",
        "build_small_cnn",
        "datasets",
        "distribute",
        "estimators",
        "evaluation",
        "fit_normal_equations",
        "layers",
        "models",
        "reports",
        "solvers",
        "testing",
    ],
    "tfzoo.solvers": [
        "NormalEquationStats",
        "NormalEquationsSolution",
        "RankDeficientWarning",
        "find_linear_layer",
        "normal_equation_stats",
        "power_of_two_scale",
    ],
    "tfzoo.layers": [
        "AnchorGenerator",
        "BoxHead",
        "ConvBlock",
        "FusedLSTM",
        "LSTMEncoder",
        "Linear",
        "MaskRCNNHead",
        "MatrixFactorization",
        "Perceptron",
        "ProposalLayer",
        "RPNHead",
        "RPNTargets",
        "RoIAlign",
        "RoISampler",
    ],
    "tfzoo.models": [
        "CharSampler",
        "MaskRCNN",
        "NormalEquationStats",
        "NormalEquationsSolution",
        "RankDeficientWarning",
        "TransferReport",
        "build_char_rnn",
        "build_embedding_recommender",
        "build_linear_regression",
        "build_lstm_classifier",
        "build_lstm_forecaster",
        "build_mask_rcnn",
        "build_perceptron",
        "build_small_cnn",
        "fit_normal_equations",
        "transfer_mask_rcnn",
    ],
    "tfzoo.estimators": [
        "CNNClassifier",
        "KerasClassifier",
        "KerasRegressor",
        "LSTMClassifier",
        "LSTMRegressor",
        "LinearRegressor",
        "PerceptronClassifier",
        "PerceptronRegressor",
        "TextGenerator",
    ],
    "tfzoo.distribute": [
        "BackupAndRestore",
        "DefaultStrategy",
        "KerasDistributionStrategy",
        "StagedModel",
        "TensorFlowBackendRequired",
        "fit",
        "fit_ps",
        "get_distribution",
        "get_model_parallel",
        "get_strategy",
        "install_keras_fixes",
        "layout_map",
        "logical_devices",
        "ps_strategy",
        "resolve_strategy_spec",
        "serve",
        "task_name",
        "tf_config_workers",
        "tpu_address",
    ],
    "tfzoo.evaluation": [
        "coco_evaluate",
        "to_coco_detections",
        "to_coco_ground_truth",
        "to_coco_results",
    ],
    "tfzoo.reports": [
        "classification_report",
        "detection_report",
        "regression_report",
        "text_report",
    ],
    "tfzoo.testing": ["check_mirrored", "configure_logical_cpus", "run_layer_test"],
    "tfzoo.datasets": [
        "DetectionAugmentation",
        "DetectionDataset",
        "SteeringTrack",
        "export_coco",
        "incline_pulley_speed",
        "load_coco",
        "load_digits_images",
        "load_mnist",
        "load_pathology",
        "load_sunspots",
        "load_text",
        "load_via",
        "make_driving_sequences",
        "make_flights",
        "make_incline_pulley",
        "make_price_series",
        "make_sales_series",
        "make_ratings",
        "make_seasonal_series",
        "make_shapes",
        "make_steering_data",
        "make_windows",
        "read_idx",
    ],
    "tfzoo.tuning": [
        "CharRNNHyperModel",
        "EmbeddingRecommenderHyperModel",
        "LSTMClassifierHyperModel",
        "LSTMForecasterHyperModel",
        "LinearRegressionHyperModel",
        "MaskRCNNHyperModel",
        "PerceptronHyperModel",
        "SmallCNNHyperModel",
        "TunedClassifier",
        "TunedRegressor",
        "make_tuner",
    ],
}


def test_all_is_pinned():
    import importlib

    for name, expected in EXPECTED.items():
        module = importlib.import_module(name)
        assert sorted(module.__all__) == sorted(expected), name
        for attr in module.__all__:
            assert hasattr(module, attr), f"{name}.{attr}"


def _run(code, env=None, unset=()):
    """Run ``code`` in a fresh interpreter; ``env`` adds variables, ``unset`` removes some."""
    child_env = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**child_env, **(env or {})},
    )


def test_import_without_tensorflow_says_which_extra():
    # Hide TensorFlow from the child process: importing it fails like a missing install.
    code = """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "tensorflow" or name.startswith("tensorflow."):
                    raise ImportError("No module named 'tensorflow'")
        sys.meta_path.insert(0, Block())
        try:
            import tfzoo
        except ImportError as e:
            print("MSG:", e)
    """
    result = _run(code, env={"KERAS_BACKEND": "tensorflow"})  # whichever backend this run uses
    assert "MSG:" in result.stdout, result.stderr
    assert "pip install 'tfzoo[cpu]'" in result.stdout
    assert "tfzoo[gpu]" in result.stdout and "tfzoo[tpu]" in result.stdout


def test_import_sets_nothing_global():
    code = """
        import logging, random
        import numpy as np
        import tensorflow as tf, keras
        py_state = random.getstate(); np_state = np.random.get_state()[1].copy()
        level = tf.get_logger().level
        floatx = keras.config.floatx()
        policy = keras.config.dtype_policy().name
        import tfzoo
        from tensorflow.python.eager import context
        from tensorflow.python.framework import config
        assert random.getstate() == py_state
        assert (np.random.get_state()[1] == np_state).all()
        assert tf.get_logger().level == level
        assert keras.config.floatx() == floatx
        assert keras.config.dtype_policy().name == policy
        assert context.global_seed() is None
        assert not config.is_op_determinism_enabled()
        print("OK")
    """
    result = _run(code)
    assert "OK" in result.stdout, result.stderr


@pytest.mark.tensorflow_only  # oneDNN is TensorFlow's
def test_import_leaves_onednn_alone_and_recipes_turn_it_on():
    # tfzoo never sets TF_ENABLE_ONEDNN_OPTS; a convolution recipe's entry point does,
    # before TensorFlow is imported, unless the user already chose.
    recipes = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "recipes")
    code = """
        import os, sys
        sys.path.insert(0, RECIPES)
        import tfzoo
        from tfzoo._backend import onednn_enabled
        print("ENV_AFTER_IMPORT", os.environ.get("TF_ENABLE_ONEDNN_OPTS"))
        print("ENABLED", onednn_enabled())
        from _common import default_onednn
        print("ACTED_AFTER_TF", default_onednn())
    """.replace("RECIPES", repr(recipes))
    result = _run(code, unset=("TF_ENABLE_ONEDNN_OPTS",))
    assert "ENV_AFTER_IMPORT None" in result.stdout, result.stderr
    assert "ACTED_AFTER_TF False" in result.stdout
    code = """
        import sys
        sys.path.insert(0, RECIPES)
        from _common import default_onednn
        print("ACTED", default_onednn())
        from tfzoo._backend import onednn_enabled
        print("ENABLED", onednn_enabled())
    """.replace("RECIPES", repr(recipes))
    result = _run(code, unset=("TF_ENABLE_ONEDNN_OPTS",))
    assert "ACTED True" in result.stdout and "ENABLED True" in result.stdout, result.stderr
    result = _run(code, env={"TF_ENABLE_ONEDNN_OPTS": "0"})
    assert "ACTED False" in result.stdout and "ENABLED False" in result.stdout, result.stderr
