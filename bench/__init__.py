"""Benchmarks for trtbuild: where the time and memory of a build go.

`python -m bench` runs `trtbuild make --json` in fresh processes (cold, cache hit without the fast
path, no-op with the fast path) for a set of recipes, measures import time and weight-hashing
throughput, and prints a markdown table plus JSON (bench/results.json). `--write-docs` replaces the
table in docs/performance.md. `python -m bench.profile RECIPE` breaks one cold build down further.
`python -m bench --compare` measures trtbuild against Torch-TensorRT in the same run (bench/compare.py).

Benchmarks are a script, not timed tests: nothing here asserts on a duration.
"""

CORE_RECIPES = (
    "recipes/resnet.toml",
    "recipes/resnet50.toml",
    "recipes/mobilenet_v2.toml",
    "recipes/squeezenet1_1.toml",
    "recipes/googlenet.toml",
)
ZOO_GLOB = "recipes/zoo/*.toml"
