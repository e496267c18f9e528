"""Every recipe runs end to end in --smoke mode, writes its plot and TensorBoard logs."""

import importlib.util
import sys
from pathlib import Path

import pytest

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


CASES = {
    "patient_pathology": ("test accuracy", 0.8),
    "images_to_objects": ("test accuracy", 0.1),
    "prices_to_next_price": ("persistence RMSE (tomorrow = today)", 0.0),
    "text_generation": ("validation bits/char", 0.0),
    "driver_profile": ("test accuracy", 0.0),
    # the mean predictor has R² 0 and linear regression 0.91 on the smoke data
    "flight_landing_time": ("perceptron: R²", 0.5),
    # a watch model that learned nothing beyond popularity scores a ratio of 1 or less
    "movie_recommender": ("watch model / most popular NDCG", 1.1),
    # g recovered from the physics-feature regression's intercept (9.81 exact)
    "incline_pulley": ("physics features: g from the intercept (expect 9.81)", 9.0),
    # closed-loop: steering straight gets 0.09 of a lap, the horizon allows 0.58
    "robot_steering": ("perceptron, perturbed drives: mean laps", 0.3),
    # two training steps learn nothing yet: the check is that COCO scoring ran (NaN fails)
    "street_objects": ("segm AP", -1e-9),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_recipe_smoke(name, tmp_path):
    recipe = _load(name)
    logdir = tmp_path / "logs"
    result = recipe.main(["--smoke", "--out", str(tmp_path), "--logdir", str(logdir)])
    key, minimum = CASES[name]
    assert result[key] > minimum, result
    plot = tmp_path / name / f"{name}.png"
    assert plot.stat().st_size > 10000
    assert list(logdir.rglob("events.out.tfevents.*")), "no TensorBoard events"


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
