"""What every recipe shares: the standard flags, output folder, result table."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

#: ``--precision`` values: Keras's dtype policies (``keras.mixed_precision``).
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


class RecipeParser(argparse.ArgumentParser):
    """``parse_args`` also applies ``--precision`` (Keras's global dtype policy)."""

    def parse_args(self, args=None, namespace=None):
        parsed = super().parse_args(args, namespace)
        apply_precision(parsed.precision)
        return parsed


def apply_precision(precision):
    """``keras.mixed_precision.set_global_policy(precision)``, before any model is built.

    ``None`` leaves Keras's policy as it is (``float32`` unless set). Under
    ``mixed_bfloat16`` (TPUs, recent GPUs) layers compute in bfloat16 and keep
    float32 weights; the estimators' outputs stay float32.
    """
    if precision is None:
        return None
    import keras

    keras.mixed_precision.set_global_policy(precision)
    print(f"precision: Keras's global dtype policy is {precision!r}")
    return precision


def parser(description, epochs, report=False):
    """The standard flags; ``report`` is whether ``--report`` is on by default."""
    p = RecipeParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs, help="training epochs")
    p.add_argument(
        "--strategy",
        default="auto",
        help="distribution strategy: auto, default, mirrored, multiworker, tpu "
        "(see tfzoo.distribute; on JAX they resolve to keras.distribution)",
    )
    p.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=None,
        help="Keras's global dtype policy (keras.mixed_precision), set before the models "
        "are built: mixed_bfloat16 on a TPU (default: Keras's, float32)",
    )
    p.add_argument("--logdir", default=None, help="write TensorBoard logs here")
    p.add_argument("--out", default="outputs", help="folder for plots and tables")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--smoke", action="store_true", help="tiny run in seconds (for tests)")
    p.add_argument(
        "--report",
        action=argparse.BooleanOptionalAction,
        default=report,
        help="write a browsable HTML report (tfzoo.reports) to OUT/NAME/report/index.html"
        + (" (default: on)" if report else ""),
    )
    return p


def report_dir(out):
    """Where a recipe writes its report (``tfzoo.reports``): ``out/report``."""
    return Path(out) / "report"


def announce_report(index):
    print(f"report: {index} (open it in a browser)")
    return str(index)


def output_dir(args, name):
    out = Path(args.out) / name
    out.mkdir(parents=True, exist_ok=True)
    return out


def print_table(title, rows):
    """Print ``rows`` (a list of (name, value) pairs) as an aligned table."""
    width = max(len(str(k)) for k, _ in rows)
    print(f"\n{title}\n" + "-" * (width + 14))
    for key, value in rows:
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"{str(key):<{width}}  {shown}")


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.start


def use_agg_backend():
    os.environ.setdefault("MPLBACKEND", "Agg")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def default_onednn(on=True):
    """Set ``TF_ENABLE_ONEDNN_OPTS`` for this process unless the user already did.

    TensorFlow reads it once, on import, so this only acts before TensorFlow
    is imported (running the recipe as a script); returns whether it acted.
    On CPUs without AVX-512 TensorFlow leaves oneDNN off; the convolution
    recipes turn it on (the small CNN trains 2-3x faster on the 2-core AVX2
    development machine), the LSTM recipes leave TensorFlow's choice (oneDNN
    made the LSTM about 1.3x slower there). ``TF_ENABLE_ONEDNN_OPTS=0`` in
    the environment always wins.
    """
    import sys

    if "tensorflow" in sys.modules or "TF_ENABLE_ONEDNN_OPTS" in os.environ:
        return False
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1" if on else "0"
    return True
