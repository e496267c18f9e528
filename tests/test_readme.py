"""The README's tour: every snippet compiles, and every time it quotes was filled in.

``benchmarks/readme_tour.py`` runs the snippets and measures them (minutes of
training, so not in the suite); here the cheap part: the blocks it finds are
the tour's, each is valid Python, and no placeholder is left in the text.
"""

import ast
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _tour():
    spec = importlib.util.spec_from_file_location("readme_tour", ROOT / "benchmarks/readme_tour.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tour_snippets_compile_and_cover_the_families():
    found = _tour().snippets(ROOT / "README.md")
    names = [name for name, _, _ in found]
    for needed in ("linear", "estimators", "cnn", "forecast", "ragged", "text", "maskrcnn-quick"):
        assert needed in names
    assert [name for name, slow, _ in found if slow] == ["maskrcnn"]
    for name, _, code in found:
        ast.parse(code, filename=f"README:{name}")
    # the raw-scale and ragged examples are what they say
    code = dict((n, c) for n, _, c in found)
    assert "make_sales_series" in code["forecast"] and "forecast(" in code["forecast"]
    assert "for t in lengths" in code["ragged"]


def test_every_quoted_time_is_filled_in():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "TOUR_" not in text
