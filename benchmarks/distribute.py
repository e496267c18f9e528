"""Steps/s and correctness of the perceptron and the small CNN under each strategy.

Every configuration runs in its own process (logical CPUs must be set before
TensorFlow starts): the default strategy; MirroredStrategy on 1, 2 and 4
logical CPUs; MultiWorkerMirroredStrategy with 2 local worker processes
(inside a private network namespace, ``unshare -rn``, 127.0.0.1 only). All
start from the same weights and see the same global batches, so the final
weights should agree with the default run; the table gives the largest
difference.

    python benchmarks/distribute.py            # a few minutes on 2 CPU cores
    python benchmarks/distribute.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
GLOBAL_BATCH = 64


def problem(model_name, n):
    import numpy as np

    rng = np.random.default_rng(0)
    if model_name == "perceptron":
        X = rng.normal(size=(n, 20)).astype("float32")
        y = (X[:, :10].sum(axis=1) > 0).astype("float32")[:, None]
    else:
        X = rng.random((n, 28, 28, 1), dtype=np.float32)
        y = rng.integers(0, 10, n)
    return X, y


def build(model_name):
    import keras

    from tfzoo.models import build_perceptron, build_small_cnn

    if model_name == "perceptron":
        model = build_perceptron(20, hidden_units=32)
        loss = "binary_crossentropy"
    else:
        model = build_small_cnn()
        loss = "sparse_categorical_crossentropy"
    model.compile(keras.optimizers.SGD(0.05), loss)
    return model


def child(args):
    """Train once under one configuration; write weights and timing."""
    import numpy as np

    if args.cpus > 1:
        from tfzoo.testing import configure_logical_cpus

        configure_logical_cpus(args.cpus)
    import keras
    import tensorflow as tf

    import tfzoo

    strategy = tfzoo.distribute.get_strategy(args.strategy)
    X, y = problem(args.model, args.rows)
    keras.utils.set_random_seed(0)
    init = build(args.model).get_weights()
    with strategy.scope():
        model = build(args.model)
    model.set_weights(init)
    ds = tf.data.Dataset.from_tensor_slices((X, y)).batch(GLOBAL_BATCH)
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    ds = ds.with_options(options)
    model.fit(ds, epochs=1, verbose=0, shuffle=False)  # trace and warm up
    model.set_weights(init)
    steps = len(X) // GLOBAL_BATCH * args.epochs
    start = time.perf_counter()
    model.fit(ds, epochs=args.epochs, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    np.savez(args.out, *model.get_weights())
    Path(args.out + ".json").write_text(
        json.dumps({"steps_per_s": steps / seconds, "replicas": strategy.num_replicas_in_sync})
    )


def _run(cmd, env=None, timeout=900):
    proc = subprocess.Popen(
        cmd,
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    if proc.returncode:
        raise RuntimeError(f"{' '.join(map(str, cmd))} failed:\n{out[-3000:]}")
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--model", default="perceptron")
    p.add_argument("--strategy", default="default")
    p.add_argument("--cpus", type=int, default=1)
    p.add_argument("--rows", type=int, default=4096)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--out", default="")
    args = p.parse_args(argv)
    if args.child:
        return child(args)
    import numpy as np

    env = {
        **os.environ,
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
    }
    env.pop("TF_CONFIG", None)
    tmp = Path(tempfile.mkdtemp(prefix="tfzoo-dist-"))
    rows = {"perceptron": 1024 if args.quick else 8192, "small_cnn": 256 if args.quick else 2048}
    configs = [("default", 1), ("mirrored", 1), ("mirrored", 2), ("mirrored", 4)]
    print(f"global batch {GLOBAL_BATCH}; {os.cpu_count()} CPU cores")
    print(f"{'model':<12}{'strategy':<24}{'replicas':>9}{'steps/s':>10}{'max |w - w_default|':>22}")
    for model_name, n in rows.items():
        results = {}
        common = [
            sys.executable,
            str(HERE),
            "--child",
            "--model",
            model_name,
            "--rows",
            str(n),
            "--epochs",
            "1" if args.quick else "3",
        ]
        for strategy, cpus in configs:
            out = str(tmp / f"{model_name}-{strategy}-{cpus}.npz")
            _run(common + ["--strategy", strategy, "--cpus", str(cpus), "--out", out], env)
            results[f"{strategy} ({cpus} CPU)"] = out
        if shutil.which("unshare"):
            outs = [str(tmp / f"{model_name}-mw{i}.npz") for i in range(2)]
            script = " & ".join(
                f"TF_CONFIG='{json.dumps(_tf_config(i))}' "
                + " ".join(common + ["--strategy", "multiworker", "--out", outs[i]])
                for i in range(2)
            )
            _run(["unshare", "-rn", "sh", "-c", f"ip link set lo up && {script} & wait"], env)
            results["multiworker (2 procs)"] = outs[0]
        base = np.load(results["default (1 CPU)"])
        for label, out in results.items():
            info = json.loads(Path(out + ".json").read_text())
            weights = np.load(out)
            delta = max(float(np.max(np.abs(weights[k] - base[k]))) for k in base.files)
            print(
                f"{model_name:<12}{label:<24}{info['replicas']:>9}{info['steps_per_s']:>10.1f}"
                f"{delta:>22.2e}"
            )
    shutil.rmtree(tmp, ignore_errors=True)


def _tf_config(index):
    return {
        "cluster": {"worker": ["127.0.0.1:24561", "127.0.0.1:24562"]},
        "task": {"type": "worker", "index": index},
    }


if __name__ == "__main__":
    main()
