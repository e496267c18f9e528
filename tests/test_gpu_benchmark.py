"""``benchmarks/gpu.py --dry-run``: the GPU benchmark's code runs here, every row in its table.

The script is a driver with one child process per Keras backend (JAX and PyTorch, side
by side under ``--dry-run``, TensorFlow hidden from both as on the GPU machine); the
dry run shrinks every size. Each row of the plan must be in the printed table with a
number, except torchvision's where torchvision cannot be imported here: those must say
so.
"""

import importlib.util
import json
import os
import re
import subprocess
import sys

from tests.netns import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))
import gpu  # noqa: E402

sys.path.remove(str(ROOT / "benchmarks"))


def _torchvision_works():
    if importlib.util.find_spec("torchvision") is None:
        return False
    done = subprocess.run(
        [sys.executable, "-c", "import torchvision.models.detection"], capture_output=True
    )
    return done.returncode == 0


def test_dry_run_prints_every_row_with_a_number(tmp_path):
    out = tmp_path / "gpu.json"
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "PYTHONPATH")}
    env.update(PYTHONPATH=str(ROOT), JAX_PLATFORMS="cpu", CUDA_VISIBLE_DEVICES="")
    done = subprocess.run(
        [sys.executable, "benchmarks/gpu.py", "--dry-run", "--json", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    table = done.stdout
    assert "--dry-run" in table.splitlines()[0]
    with open(out) as f:
        results = json.load(f)
    assert results["status"] == {"torch": 0, "jax": 0}, results["status"]
    torchvision = _torchvision_works()
    plan = gpu.plan(dry=True)
    # every model, both backends, the four implementations of the issue
    assert {key[0] for key, _, _ in plan} == {"small CNN", "char-RNN", "Mask R-CNN", "estimator"}
    assert {(key[2], key[3]) for key, _, _ in plan if key[0] == "char-RNN"} >= {
        ("tfzoo build_char_rnn", "jax"),
        ("keras LSTM", "jax"),
        ("keras LSTM", "torch"),
    }
    assert {key[1].split(", ")[-1] for key, _, _ in plan if key[0] == "small CNN"} == {
        "float32",
        "mixed_bfloat16",
    }
    for key, unit, _ in plan:
        model, config, impl, backend = key
        row = results["children"][backend]["rows"][gpu.key_str(key)]
        pattern = (
            rf"^{re.escape(model)}\s+{re.escape(config)}\s+{re.escape(impl)}\s+{backend}\s+"
            rf"(\S+) {re.escape(unit)}"
        )
        line = next((ln for ln in table.splitlines() if re.match(pattern, ln)), None)
        assert line is not None, f"no table row for {key}:\n{table}"
        shown = re.match(pattern, line).group(1)
        if impl == "torchvision" and not torchvision:
            assert row["value"] is None and shown == "-", line
            assert "torchvision" in row["note"] and row["note"] in line, line
            continue
        assert row["note"] is None, line
        assert row["value"] > 0 and float(shown.replace(",", "")) > 0, line
        if model == "small CNN":
            assert row["mfu"] > 0 and re.search(r"\d%", line), line
        if not impl.startswith("tfzoo"):  # speed against tfzoo's row of the same config
            assert re.search(r"\d\.\d\dx", line), line
