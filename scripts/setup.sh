#!/usr/bin/env bash
# Create .venv with trtbuild and its dependencies (idempotent). Extras: pass e.g. "test,s3".
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
spec="."
[ -n "$extras" ] && spec=".[$extras]"
.venv/bin/pip install --quiet --disable-pip-version-check -e "$spec"
