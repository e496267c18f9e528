#!/usr/bin/env bash
# tfzoo in a fresh virtual environment with one Keras backend and no TensorFlow (issue #13):
#   bash scripts/fresh-env-check.sh jax     # or torch
# Installs tfzoo[<backend>] (torch: the CPU wheel) from this checkout into a new venv
# (needs the package index), checks that TensorFlow is absent, and runs
# scripts/fresh_env_check.py there with KERAS_BACKEND=<backend>.
set -euo pipefail
backend="${1:?usage: fresh-env-check.sh jax|torch}"
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$(mktemp -d)/venv-$backend"
python3 -m venv "$venv"
extra=()
if [ "$backend" = torch ]; then extra=("torch==2.13.0+cpu"); fi
"$venv/bin/pip" install -q "$root[$backend]" "${extra[@]}"
if "$venv/bin/python" -c "import tensorflow" 2>/dev/null; then
  echo "TensorFlow got installed into $venv" >&2; exit 1
fi
cd "$(dirname "$venv")"  # not the checkout: the installed tfzoo is the one imported
KERAS_BACKEND="$backend" "$venv/bin/python" "$root/scripts/fresh_env_check.py"
rm -rf "$(dirname "$venv")"
