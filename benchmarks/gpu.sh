#!/usr/bin/env bash
# benchmarks/gpu.py on a GPU machine that has JAX, PyTorch and torchvision but no Keras,
# no TensorFlow and no internet: what it lacks travels as wheels.
#
#   bash benchmarks/gpu.sh wheels        # HERE (needs the package index): fills benchmarks/.wheels/
#   bash benchmarks/gpu.sh run [ARGS]    # THERE, in a copy of this repository with that folder:
#                                        # installs the wheels offline, runs gpu.py ARGS
#
# `wheels` downloads Keras, keras-tuner and their small dependencies that such a machine
# lacks (namex, optree, kt-legacy), for CPython $GPU_PYTHON (default 3.12) on x86-64
# Linux, and builds tfzoo's own wheel from this checkout. `run` installs them with
# `pip install --no-index --no-deps` into $SITE (default /tmp/gpubench-site), puts that
# first on PYTHONPATH and runs `python3 benchmarks/gpu.py`; its other needs (numpy,
# scipy, pandas, scikit-learn, pillow, h5py, ml-dtypes, rich, absl-py, requests,
# packaging, grpcio, protobuf) are the machine's own: `run` says which are missing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
wheels="$root/benchmarks/.wheels"
py="${PYTHON:-python3}"

case "${1:-}" in
  wheels)
    rm -rf "$wheels"
    mkdir -p "$wheels"
    pyver="${GPU_PYTHON:-3.12}"
    "$py" -m pip download -q --no-deps --only-binary=:all: --dest "$wheels" \
      --python-version "$pyver" --implementation cp --platform manylinux_2_28_x86_64 \
      --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
      --platform manylinux2014_x86_64 \
      "keras==3.15.1" "keras-tuner==1.4.8" "kt-legacy==1.0.5" "namex==0.1.0" "optree==0.20.0"
    "$py" -m pip wheel -q --no-deps --no-build-isolation --wheel-dir "$wheels" "$root"
    rm -rf "$root/build"
    ls -l "$wheels"
    ;;
  run)
    shift
    site="${SITE:-/tmp/gpubench-site}"
    if ! ls "$wheels"/*.whl >/dev/null 2>&1; then
      echo "benchmarks/gpu.sh: no wheels in $wheels: run 'bash benchmarks/gpu.sh wheels'" \
        "where the package index is reachable, and bring that folder along" >&2
      exit 2
    fi
    "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
      --target "$site" "$wheels"/*.whl
    export PYTHONPATH="$site${PYTHONPATH:+:$PYTHONPATH}"
    (cd /tmp && KERAS_BACKEND=jax "$py" -) <<'EOF'
import importlib.util, sys
need = ["numpy", "scipy", "pandas", "sklearn", "PIL", "h5py", "ml_dtypes", "rich", "absl",
        "requests", "packaging", "grpc", "google.protobuf", "jax", "torch", "keras", "tfzoo"]
missing = [n for n in need if importlib.util.find_spec(n) is None]
if missing:
    sys.exit(f"benchmarks/gpu.sh: missing on this machine: {', '.join(missing)}")
import keras, tfzoo
print(f"keras {keras.__version__} and tfzoo {tfzoo.__version__} from {tfzoo.__file__}")
EOF
    cd "$root"
    PYTHONUNBUFFERED=1 "$py" benchmarks/gpu.py "$@"
    ;;
  *)
    echo "usage: bash benchmarks/gpu.sh wheels | run [gpu.py arguments]" >&2
    exit 2
    ;;
esac
