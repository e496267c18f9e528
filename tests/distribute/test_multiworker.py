"""Two MultiWorkerMirroredStrategy workers on 127.0.0.1 inside a private network namespace.

tf.distribute servers listen on all addresses, so the workers only ever run
inside a namespace this test creates (``unshare -rn`` + ``ip link set lo up``),
bounded in time; the whole process group is killed by PID if it overruns.
"""

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from tests.distribute import mw_worker
from tests.netns import namespaces_available as _namespaces_available
from tests.netns import run_in_namespace, two_workers

HERE = Path(__file__).resolve().parent
TIMEOUT = 300


@pytest.mark.slow
def test_two_workers_match_a_single_process(tmp_path):
    if not _namespaces_available():
        pytest.fail("this test needs unshare -rn and ip (util-linux, iproute2)")
    worker = HERE / "mw_worker.py"
    outs = [tmp_path / f"worker{i}.npz" for i in range(2)]
    script = two_workers(worker, f"23456 23457 0 {outs[0]}", f"23456 23457 1 {outs[1]}")
    code, log = run_in_namespace(script, TIMEOUT)
    assert code == 0 and all(o.exists() for o in outs), log[-4000:]
    w0, w1 = (np.load(o) for o in outs)
    names = [k for k in w0.files if k.startswith("arr_")]
    for name in names:
        np.testing.assert_array_equal(w0[name], w1[name])
    # the same global batch in one process gives the same weights
    weights, losses = mw_worker.train(tf.distribute.get_strategy())
    for name, expected in zip(sorted(names, key=lambda n: int(n[4:])), weights):
        np.testing.assert_allclose(w0[name], expected, atol=1e-5)
    np.testing.assert_allclose(w0["losses"], losses, rtol=1e-5)
