#!/usr/bin/env bash
# What one CI job does in a fresh clone with an empty local cache (docs/ci.md runs this script; the
# tests run it against real nginx and moto S3 servers, two clones at a time).
#   scripts/ci-runner.sh gate [RECIPES...]       exit 0: every engine is in the team cache; 3: some must be built
#   scripts/ci-runner.sh build I/N [RECIPES...]  make shard I of N; the JSON report goes to build/make-shard-I.json
# Environment: TRTBUILD_REMOTE_CACHE (the team cache URL), the signing key (TRTBUILD_CACHE_HMAC_KEY, or
# TRTBUILD_CACHE_PRIVATE_KEY_FILE where CI writes / TRTBUILD_CACHE_PUBLIC_KEY_FILE where it only reads),
# TRTBUILD_REMOTE_WRITE=1 on the main branch only, TRTBUILD_RUN_ID (the CI run's id, for shard costs),
# TRTBUILD (the command; default: trtbuild).
set -euo pipefail
cd "$(dirname "$0")/.."
trtbuild=${TRTBUILD:-trtbuild}
mode=${1:?usage: ci-runner.sh gate|build ...}
shift
case "$mode" in
  gate)
    exec $trtbuild make --check "${@:-recipes/}"
    ;;
  build)
    shard=${1:?usage: ci-runner.sh build I/N [RECIPES...]}
    shift
    mkdir -p build
    exec $trtbuild make --shard "$shard" --json "${@:-recipes/}" > "build/make-shard-${shard%%/*}.json"
    ;;
  *)
    echo "ci-runner.sh: unknown mode $mode (gate or build)" >&2
    exit 2
    ;;
esac
