"""`python -m bench.bad_recipes [--repeat N]`: how fast `make` refuses a bad recipe, in fresh processes.

The three faults users met first (min_shape > max_shape, a weights file that is not there, a 20-digit
dimension): wall and CPU seconds of the whole process (medians), its exit code, the error's first line,
and whether it imported torch. CPU time is shown beside wall time because a loaded machine stretches
the latter.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAD = '[model]\nfactory = "tiny_models:convnet"\n{model}[[inputs]]\nname = "x"\n'
FAULTS = {
    "min_shape > max_shape": HEAD.format(model="") + "min_shape = [8, 3]\nopt_shape = [8, 3]\nmax_shape = [1, 3]\n",
    "missing weights file": HEAD.format(model='weights = "missing.safetensors"\n') + "shape = [1, 3]\n",
    "20-digit dimension": HEAD.format(model="") + "shape = [12345678901234567890, 3]\n",
}
# The console script's own entry point, reporting whether torch was imported on the way.
CHILD = ("import sys\nfrom trtbuild.cli.main import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as exc:\n"
         "    sys.stderr.write(f'\\nexit {exc.code} torch {\"torch\" in sys.modules}\\n')\n")


def measure(path: Path, repeat: int) -> dict:
    walls, cpus, last = [], [], ""
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", CHILD, "make", str(path), "--out-dir", str(path.parent / "out")],
                              cwd=path.parent, capture_output=True, text=True)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        last = proc.stderr
    *_, status = last.strip().splitlines()
    return {"wall_s": round(statistics.median(walls), 3), "cpu_s": round(statistics.median(cpus), 3),
            "exit": int(status.split()[1]), "torch_imported": status.split()[3] == "True",
            "error": last.splitlines()[0]}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bad_recipes", description=__doc__)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for name, text in FAULTS.items():
            path = Path(folder) / f"{name.split()[0].replace('_', '-')}.toml"
            path.write_text(text)
            results[name] = measure(path, args.repeat)
            print(f"{name}: {results[name]}", file=sys.stderr)
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
