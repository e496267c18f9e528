"""Every recipe runs end to end in --smoke mode."""

import importlib.util
import sys
from pathlib import Path

import pytest

RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, RECIPES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(RECIPES))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(RECIPES))
    return module


@pytest.mark.slow
def test_patient_pathology_smoke(tmp_path):
    recipe = _load("patient_pathology")
    logdir = tmp_path / "logs"
    result = recipe.main(["--smoke", "--out", str(tmp_path), "--logdir", str(logdir)])
    assert result["test accuracy"] > 0.8
    assert (tmp_path / "patient_pathology" / "patient_pathology.png").stat().st_size > 10000
    assert list(logdir.rglob("events.out.tfevents.*"))
