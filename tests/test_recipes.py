"""Every recipe runs end to end in --smoke mode: beats its baseline, writes its plot,
TensorBoard logs and HTML report (opened in headless Chromium)."""

import importlib.util
import sys
from pathlib import Path

import pytest

from tests.reports.checks import check_page

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"recipe_{name}", RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(RECIPES))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(RECIPES))
    return module


def _above(key, level, margin=0.0):
    """``result[key] > level + margin``; ``level`` a number or another key of the result."""

    def check(result):
        reference = result[level] if isinstance(level, str) else level
        return result[key] > reference + margin, f"{key} {result[key]!r} > {reference!r} + {margin}"

    return check


def _below(key, level, factor=1.0):
    """``result[key] < factor * result[level]``: the model beats a baseline of the same run."""

    def check(result):
        return (
            result[key] < factor * result[level],
            f"{key} {result[key]!r} < {factor} x {level} {result[level]!r}",
        )

    return check


# What each smoke run must reach: a baseline or level that a model that learned nothing misses.
CASES = {
    "patient_pathology": _above("test accuracy", 0.8),
    # chance is 0.1 for 10 digits; the smoke run (10 epochs, 300 images) reaches 0.88
    "images_to_objects": _above("test accuracy", 0.5),
    # the smoke run's LSTM is 8% below persistence (1.068 vs 1.163)
    "prices_to_next_price": _below(
        "LSTM next-price RMSE", "persistence RMSE (tomorrow = today)", factor=0.99
    ),
    # context-free character frequencies give 4.51 bits/char; the smoke run 3.97
    "text_generation": _below(
        "validation bits/char", "unigram baseline bits/char (training-text frequencies)"
    ),
    # majority class 0.38 of the 37 test traces; the smoke run 0.65
    "driver_profile": _above("test accuracy", "majority-class rate (test)", margin=0.1),
    # the mean predictor has R² 0 and linear regression 0.91 on the smoke data
    "flight_landing_time": _above("perceptron: R²", 0.5),
    # a watch model that learned nothing beyond popularity scores a ratio of 1 or less
    "movie_recommender": _above("watch model / most popular NDCG", 1.1),
    # g recovered from the physics-feature regression's intercept (9.81 exact)
    "incline_pulley": _above("physics features: g from the intercept (expect 9.81)", 9.0),
    # closed-loop: steering straight gets 0.09 of a lap, the horizon allows 0.58
    "robot_steering": _above("perceptron, perturbed drives: mean laps", 0.3),
    # eight steps are too few for AP > 0; the loss must fall (2.34 -> 2.01 in the smoke run,
    # trained from the generated COCO folder; with --learning-rate 0 it is 3.01 -> 2.97)
    "street_objects": _below("final training loss", "first-epoch training loss", factor=0.95),
    # the same on a VIA folder of images of two sizes (_via_folder): 2.16 -> 2.00; with
    # --learning-rate 0 it rises, 2.92 -> 2.95
    "instance_segmentation": _below(
        "final training loss", "first-epoch training loss", factor=0.97
    ),
}


def _via_folder(root, seed=0):
    """A tiny VIA data set, as Matterport's balloon sample lays it out: ROOT/{train,val}/
    via_region_data.json with the PNGs beside it; squares as VIA rectangles and triangles as
    polygons, class in the region attribute "class", images 64x80 and 72x56 (height x width)."""
    import json

    import numpy as np
    from PIL import Image

    from tfzoo.datasets.coco_masks import mask_from_polygons

    rng = np.random.default_rng(seed)
    for part, n in (("train", 8), ("val", 4)):
        folder = root / part
        folder.mkdir(parents=True)
        doc = {}
        for i in range(n):
            h, w = (64, 80) if i % 2 else (72, 56)
            image = rng.integers(0, 90, (h, w, 3)).astype(np.uint8)
            side = int(rng.integers(14, 22))
            x, y = int(rng.integers(1, w // 2 - side // 2)), int(rng.integers(1, h - side - 1))
            image[y : y + side, x : x + side] = rng.integers(150, 255, 3)
            tx, ty, ts = int(rng.integers(w // 2 + 2, w - 18)), int(rng.integers(1, h - 20)), 17
            xs, ys = [tx, tx + ts, tx], [ty, ty + ts // 2, ty + ts]
            triangle = mask_from_polygons([[v for xy in zip(xs, ys) for v in xy]], h, w) != 0
            image[triangle] = rng.integers(150, 255, 3)
            name = f"image_{i}.png"
            Image.fromarray(image).save(folder / name)
            square = {"name": "rect", "x": x, "y": y, "width": side, "height": side}
            poly = {"name": "polygon", "all_points_x": xs, "all_points_y": ys}
            doc[f"{name}{i}"] = {
                "filename": name,
                "size": -1,
                "regions": [
                    {"shape_attributes": square, "region_attributes": {"class": "square"}},
                    {"shape_attributes": poly, "region_attributes": {"class": "triangle"}},
                ],
            }
        (folder / "via_region_data.json").write_text(json.dumps(doc))
    return root


# Data a recipe's smoke run needs beyond --smoke: tmp_path -> extra arguments.
EXTRA_ARGS = {"instance_segmentation": lambda tmp: ["--via", str(_via_folder(tmp / "via"))]}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_recipe_smoke(name, tmp_path, browser):
    recipe = _load(name)
    logdir = tmp_path / "logs"
    extra = EXTRA_ARGS[name](tmp_path) if name in EXTRA_ARGS else []
    result = recipe.main(
        ["--smoke", "--report", "--out", str(tmp_path), "--logdir", str(logdir), *extra]
    )
    ok, what = CASES[name](result)
    assert ok, f"{what}: {result}"
    plot = tmp_path / name / f"{name}.png"
    assert plot.stat().st_size > 10000
    assert list(logdir.rglob("events.out.tfevents.*")), "no TensorBoard events"
    # the report opens in headless Chromium from file:// without errors and works
    index = tmp_path / name / "report" / "index.html"
    assert result["report"] == str(index)
    kind = check_page(browser, index, tmp_path / f"{name}_report.png")
    assert kind == REPORT_KINDS[name]


REPORT_KINDS = {
    "patient_pathology": "classification",
    "images_to_objects": "classification",
    "driver_profile": "classification",
    "prices_to_next_price": "regression",
    "flight_landing_time": "regression",
    "movie_recommender": "regression",
    "incline_pulley": "regression",
    "robot_steering": "regression",
    "text_generation": "text",
    "street_objects": "detection",
    "instance_segmentation": "detection",
}


def test_every_recipe_is_tested():
    scripts = {p.stem for p in RECIPES.glob("*.py") if not p.stem.startswith("_")}
    assert scripts == set(CASES)


@pytest.mark.slow
def test_patient_pathology_tune_smoke(tmp_path):
    recipe = _load("patient_pathology")
    result = recipe.main(["--smoke", "--tune", "--out", str(tmp_path)])
    assert result["search"] == "keras-tuner, Bayesian"
    assert result["best hidden units"] in (2, 4, 8, 16)
    assert result["test accuracy"] > 0.8, result


@pytest.mark.slow
def test_forecast_recipe_on_raw_scale_sales_beats_persistence_by_20_percent(tmp_path):
    # issue #14 item 1: a series around 100 with a trend, given raw to the estimator
    recipe = _load("prices_to_next_price")
    result = recipe.main(["--data", "sales", "--epochs", "25", "--out", str(tmp_path)])
    rmse = result["LSTM next-price RMSE"]
    assert rmse < 0.8 * result["persistence RMSE (tomorrow = today)"], result
    assert float(result["price level (held-out mean)"]) > 100  # raw scale, not standardised


def test_precision_flag_sets_the_global_dtype_policy_before_models_are_built():
    import keras

    sys.path.insert(0, str(RECIPES))
    try:
        import _common
    finally:
        sys.path.remove(str(RECIPES))
    p = _common.parser("x", epochs=1)
    before = keras.mixed_precision.global_policy().name
    assert p.parse_args([]).precision is None  # the default leaves Keras's policy alone
    assert keras.mixed_precision.global_policy().name == before
    try:
        assert p.parse_args(["--precision", "mixed_bfloat16"]).precision == "mixed_bfloat16"
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        from tfzoo.models import build_small_cnn

        model = build_small_cnn((8, 8, 1), 3, filters=(2, 2, 2), kernel_sizes=(3, 3, 3))
        conv = next(layer for layer in model.layers if layer.weights)
        assert conv.compute_dtype == "bfloat16" and conv.weights[0].dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy(before)
    with pytest.raises(SystemExit):
        p.parse_args(["--precision", "float16"])  # argparse names the choices
