"""Benchmarks for trtbuild: where the time and memory of a build go.

`python -m bench` runs `trtbuild make --json` in fresh processes (cold, cache hit without the fast
path, no-op with the fast path) for a set of recipes, measures import time and weight-hashing
throughput, and prints a markdown table plus JSON (bench/results.json). `--write-docs` replaces the
table in docs/performance.md. `python -m bench.profile RECIPE` breaks one cold build down further.

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

# The comparison target of issue 10: Torch-TensorRT 2.14 (TensorRT-RTX build on CPU), cold resnet50, batch 1.
TARGET = {
    "tool": "Torch-TensorRT 2.14 (TensorRT-RTX, CPU build)",
    "model": "resnet50",
    "cold_wall": 11.4,
    "trt_build": 1.4,
    "lowering_partitioning": 2.6,
    "goal_fraction": 0.5,
}
