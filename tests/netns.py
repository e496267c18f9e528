"""Run a shell script inside a private user+network namespace, bounded in time.

Servers in the tests (keras-tuner's oracle, TensorBoard) only ever listen
inside a namespace the test creates (``unshare -rn`` + ``ip link set lo up``),
on 127.0.0.1. The script starts its processes, waits for them and ends them
by PID; on overrun the whole process group is killed by the leader's PID.
"""

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def two_workers(worker, args0, args1):
    """A script that starts ``worker`` twice (with ``args0`` and ``args1``), waits for
    both by PID and exits non-zero if either failed."""
    return (
        f"{sys.executable} {worker} {args0} & p0=$!; "
        f"{sys.executable} {worker} {args1} & p1=$!; "
        "wait $p0; r0=$?; wait $p1; r1=$?; exit $((r0 | r1))"
    )


def namespaces_available():
    """Whether ``unshare -rn`` and ``ip`` work here."""
    if not shutil.which("unshare") or not shutil.which("ip"):
        return False
    probe = subprocess.run(
        ["unshare", "-rn", "sh", "-c", "ip link set lo up"], capture_output=True, timeout=30
    )
    return probe.returncode == 0


def run_in_namespace(script, timeout, env=None):
    """Run ``script`` (sh) in a fresh namespace; ``(returncode, output)``; fail on overrun."""
    if not namespaces_available():
        pytest.fail("this test needs unshare -rn and ip (util-linux, iproute2)")
    full_env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("KERASTUNER_")},
        "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        **(env or {}),
    }
    full_env.pop("TF_CONFIG", None)
    proc = subprocess.Popen(
        ["unshare", "-rn", "sh", "-c", f"ip link set lo up && {script}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=full_env,
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f"namespace script did not finish in {timeout} s:\n{out[-4000:]}")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, out
