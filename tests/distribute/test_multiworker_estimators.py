"""Every tfzoo estimator trains with strategy="multiworker" on a 2-worker cluster.

One pair of worker processes (in a private network namespace, bounded in
time) trains them all, each with its own defaults apart from the epochs, a
seed and tiny sizes; the workers hold replicas of one model, so their
predictions must be equal.
"""

from pathlib import Path

import numpy as np
import pytest

from tests.distribute import mw_estimators_worker
from tests.netns import namespaces_available as _namespaces_available
from tests.netns import run_in_namespace, two_workers

HERE = Path(__file__).resolve().parent
TIMEOUT = 300


@pytest.mark.slow
def test_every_estimator_trains_on_two_workers(tmp_path):
    if not _namespaces_available():
        pytest.fail("this test needs unshare -rn and ip (util-linux, iproute2)")
    worker = HERE / "mw_estimators_worker.py"
    outs = [tmp_path / f"worker{i}.npz" for i in range(2)]
    script = two_workers(worker, f"23476 23477 0 {outs[0]}", f"23476 23477 1 {outs[1]}")
    code, log = run_in_namespace(script, TIMEOUT)
    assert code == 0 and all(o.exists() for o in outs), log[-6000:]
    names = [name for name, _, _ in mw_estimators_worker.estimators()]
    w0, w1 = (np.load(o) for o in outs)
    assert sorted(w0.files) == sorted(w1.files) == sorted(names)
    for name in names:
        assert np.all(np.isfinite(w0[name])), name
        np.testing.assert_allclose(w0[name], w1[name], rtol=1e-6, atol=1e-7, err_msg=name)
