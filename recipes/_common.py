"""What every recipe shares: the standard flags, output folder, result table."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path


def parser(description, epochs):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--epochs", type=int, default=epochs, help="training epochs")
    p.add_argument(
        "--strategy",
        default="auto",
        help="distribution strategy: auto, default, mirrored (see tfzoo.distribute)",
    )
    p.add_argument("--logdir", default=None, help="write TensorBoard logs here")
    p.add_argument("--out", default="outputs", help="folder for plots and tables")
    p.add_argument("--seed", type=int, default=0, help="random seed")
    p.add_argument("--smoke", action="store_true", help="tiny run in seconds (for tests)")
    return p


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
