"""``--backend tensorflow|jax|torch|all`` for the benchmark scripts.

Keras fixes its backend when it is imported, so a script calls
:func:`select_backend` before ``import keras`` (it sets ``KERAS_BACKEND`` from
the command line), adds the options with :func:`add_backend_arguments`, and
for ``--backend all`` hands over to :func:`run_each_backend`: the script once
per backend in a child process, each writing its results with ``--json``.
Nothing here imports Keras.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

BACKENDS = ("tensorflow", "jax", "torch")


def backend_from_argv(argv):
    """``--backend NAME`` or ``--backend=NAME`` from the command line (read before keras)."""
    for i, arg in enumerate(argv):
        if arg == "--backend" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--backend="):
            return arg.split("=", 1)[1]
    return None


def select_backend(argv=None):
    """Set ``KERAS_BACKEND`` from ``--backend`` (before keras is imported); the name or None."""
    name = backend_from_argv(sys.argv[1:] if argv is None else argv)
    if name in BACKENDS:
        os.environ["KERAS_BACKEND"] = name
    return name


def add_backend_arguments(parser):
    """``--backend`` and ``--json`` on an ``argparse`` parser."""
    parser.add_argument(
        "--backend",
        choices=(*BACKENDS, "all"),
        default=None,
        help="Keras backend (default: KERAS_BACKEND, else tensorflow); all: each in turn, "
        "one table",
    )
    parser.add_argument("--json", help="also write the results to this JSON file")


def _without(argv, *options):
    """``argv`` less the given options and their values (``--opt V`` and ``--opt=V``)."""
    rest = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in options:
            skip = True
        elif not arg.startswith(tuple(f"{opt}=" for opt in options)):
            rest.append(arg)
    return rest


def run_each_backend(script, argv, json_path=None):
    """Run ``script`` once per backend (a child each, ``--json``); ``{backend: results}``.

    The children get every argument but ``--backend`` and ``--json``; a backend
    whose child fails is reported and left out. The combined results are also
    written to ``json_path`` if one is given.
    """
    rest = _without(argv, "--backend", "--json")
    seen = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in BACKENDS:
            out = os.path.join(tmp, f"{backend}.json")
            print(f"\n===== KERAS_BACKEND={backend}", flush=True)
            env = {**os.environ, "KERAS_BACKEND": backend}
            done = subprocess.run(
                [sys.executable, script, *rest, "--backend", backend, "--json", out], env=env
            )
            if done.returncode == 0 and os.path.exists(out):
                with open(out) as f:
                    seen[backend] = json.load(f)
            else:
                print(f"({backend}: exit status {done.returncode})", flush=True)
    if json_path:
        with open(json_path, "w") as f:
            json.dump(seen, f)
    return seen
