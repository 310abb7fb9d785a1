#!/usr/bin/env bash
# Set up everything the tests need on a fresh machine, then run the whole suite (slow tests too).
# Extra arguments go to pytest, e.g. `scripts/test.sh -m "not slow"` for the quick set.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v nginx >/dev/null 2>&1; then  # the HTTP remote-cache tests run against a real nginx
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
  else
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null
  fi
fi
bash scripts/setup.sh "test,s3"
exec .venv/bin/pytest -p no:cacheprovider "$@"
