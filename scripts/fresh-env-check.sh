#!/usr/bin/env bash
# tfzoo in a fresh virtual environment with one Keras backend and no TensorFlow (issue #13):
#   bash scripts/fresh-env-check.sh jax     # or torch
# Installs tfzoo[<backend>] (torch: the CPU wheel) from this checkout into a new venv
# (needs the package index), checks that TensorFlow is absent, and runs
# scripts/fresh_env_check.py there with KERAS_BACKEND=<backend>.
#
#   bash scripts/fresh-env-check.sh colab   # the Colab TPU steps of recipes/README.md
# colab: runs the block marked <!-- colab:steps --> in recipes/README.md as written, in a
# fresh venv (its pip and python first on PATH) and a copy of this checkout, with --smoke
# added to each `python recipes/...` line; fails if a step fails or TensorFlow got installed.
set -euo pipefail
backend="${1:?usage: fresh-env-check.sh jax|torch|colab}"
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ "$backend" = colab ]; then
  steps=$(awk '/<!-- colab:steps -->/{f=1; next} f && /^```bash/{g=1; next} g && /^```/{exit} g{print}' \
    "$root/recipes/README.md")
  if [ -z "$steps" ]; then
    echo "no <!-- colab:steps --> block in recipes/README.md" >&2; exit 2
  fi
  case "$steps" in
    *"python recipes/"*) ;;
    *) echo "the Colab steps run no recipe: $steps" >&2; exit 2 ;;
  esac
  work="$(mktemp -d)"
  python3 -m venv "$work/venv"
  mkdir "$work/repo"
  (cd "$root" && tar --exclude=./.git --exclude=./.venv --exclude=./outputs \
    --exclude=./benchmarks/.wheels -cf - .) | (cd "$work/repo" && tar -xf -)
  smoke=$(printf '%s\n' "$steps" | sed -E 's|^(python recipes/[^ ]+\.py.*)$|\1 --smoke|')
  (cd "$work/repo" && env -u PYTHONPATH -u KERAS_BACKEND VIRTUAL_ENV="$work/venv" \
    PATH="$work/venv/bin:$PATH" bash -euxo pipefail -c "$smoke")
  if "$work/venv/bin/python" -c "import tensorflow" 2>/dev/null; then
    echo "TensorFlow got installed into $work/venv" >&2; exit 1
  fi
  rm -rf "$work"
  echo "OK: the Colab TPU steps of recipes/README.md ran (with --smoke) without TensorFlow"
  exit 0
fi
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
