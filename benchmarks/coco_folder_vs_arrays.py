"""Mask R-CNN trained from a COCO folder on disk vs. from in-memory arrays of the same images.

    python benchmarks/coco_folder_vs_arrays.py                  # the quick recipe: 64 px, 400 steps
    python benchmarks/coco_folder_vs_arrays.py --image-size 128 # the issue's size (about 4x slower)
    python benchmarks/coco_folder_vs_arrays.py --smoke          # seconds

Runs ``recipes/street_objects.py`` twice, each in its own process, one after the other: as it is
(training streams from the generated COCO folder through ``load_coco``) and with
``--from-arrays`` (the same images, the same order, seed and model, given to ``fit`` as arrays);
both score the same held-out COCO folder with COCO's evaluator. Prints one table (and writes it
with ``--write``): the COCO metrics of each, the loader's images/s alone and the training
images/s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("bbox AP", "bbox AP50", "bbox AP75", "segm AP", "segm AP50", "segm AP75")
RATES = (
    "loader alone (images/s)",
    "training (images/s, after the first step)",
    "inference, detect at original size (images/s)",
)


def run(argv, out_json):
    code = (
        "import json, sys; sys.path.insert(0, 'recipes'); import street_objects; "
        f"r = street_objects.main({argv!r}); r.pop('metrics', None); "
        f"open({str(out_json)!r}, 'w').write(json.dumps(r))"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    return json.loads(Path(out_json).read_text())


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--steps-per-epoch", type=int, default=80)
    p.add_argument("--out", default=None, help="recipe outputs (default: a temporary folder)")
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--write", default=None, help="also write the table to this file")
    p.add_argument(
        "--save", action="store_true", help="keep each run's model as OUT/<run>/model.keras"
    )
    p.add_argument("--minutes", type=float, default=60.0, help="each run's training time budget")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="the recipe's seed (its generated images, model and training order); two seeds "
        "show how far two trainings differ by chance",
    )
    args = p.parse_args()
    out = Path(args.out or tempfile.mkdtemp(prefix="coco_vs_arrays_"))
    common = [
        "--image-size", str(args.image_size),
        "--epochs", str(args.epochs),
        "--steps-per-epoch", str(args.steps_per_epoch),
        "--minutes", str(args.minutes),
        "--seed", str(args.seed),
        "--no-report",
    ] + ["--smoke"] * args.smoke  # fmt: skip
    results = {}
    for name, extra in (("COCO folder", []), ("arrays", ["--from-arrays"])):
        argv = common + ["--out", str(out / name.replace(" ", "_"))] + extra
        if args.save:
            argv += ["--save", str(out / name.replace(" ", "_") / "model.keras")]
        argv += ["--data-dir", str(out / "coco")]  # one folder for both
        results[name] = run(argv, out / f"{name.replace(' ', '_')}.json")
    load = os.getloadavg()
    lines = [
        f"# python benchmarks/coco_folder_vs_arrays.py --image-size {args.image_size} "
        f"--epochs {args.epochs} --steps-per-epoch {args.steps_per_epoch} --seed {args.seed}"
        + (" --smoke" if args.smoke else ""),
        f"# backend {os.environ.get('KERAS_BACKEND', 'tensorflow')}, {os.cpu_count()} CPU cores, "
        f"load average after the runs {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min)",
        *(f"# {name}: training {r['training']}" for name, r in results.items()),
        f"# held out: {results['COCO folder']['validation data']}",
        f"{'trained from':<14}" + "".join(f"{k:>11}" for k in KEYS)
        + f"{'loader img/s':>14}{'train img/s':>13}{'detect img/s':>14}",
    ]  # fmt: skip
    for name, r in results.items():
        loader = r.get(RATES[0])
        lines.append(
            f"{name:<14}"
            + "".join(f"{r[k]:>11.3f}" for k in KEYS)
            + (f"{loader:>14.0f}" if loader is not None else f"{'-':>14}")
            + f"{r[RATES[1]]:>13.2f}{r[RATES[2]]:>14.2f}"
        )
    table = "\n".join(lines)
    print(table)
    if args.write:
        Path(args.write).write_text(table + "\n")


if __name__ == "__main__":
    main()
