#!/usr/bin/env bash
# System packages the test suite needs beyond pip: headless Chromium for the report tests
# (tests/reports, tests/test_recipes.py open tfzoo.reports pages in it). Debian's `chromium`
# package; nothing is downloaded at test time. Safe to run again: it installs only what is
# missing, and fails with a clear message where it cannot (no root, no apt-get).
set -euo pipefail

if [ -n "${CHROMIUM:-}" ] && command -v "$CHROMIUM" >/dev/null 2>&1; then
  exit 0
fi
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "scripts/test-deps.sh: chromium is missing and apt-get is not available;" \
    "install Chromium and put it on PATH (or set CHROMIUM=/path/to/chromium)" >&2
  exit 1
fi
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo="sudo -n"
  else
    echo "scripts/test-deps.sh: chromium is missing; run as root (or with sudo):" \
      "apt-get install -y chromium" >&2
    exit 1
  fi
fi
echo "scripts/test-deps.sh: installing chromium (apt-get)" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
command -v chromium >/dev/null 2>&1
