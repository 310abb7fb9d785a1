"""The benchmark's bookkeeping: medians, table, docs block, run checks. No timing is asserted."""

from __future__ import annotations

import json

from bench.__main__ import main as bench_main
from bench.profile import summarize
from bench.report import END, START, markdown, replace_block, summarize_recipe, table
from bench.runs import ChildRun, MakeRun, check_triple


def _cold(wall: float, export: float, trt: float, rss: float = 1000.0) -> dict:
    return {"kind": "cold", "name": "resnet50", "wall": wall, "seconds": wall - 1.5, "max_rss_mib": rss, "cpu_seconds": wall,
            "load1": 1.0, "status": "built", "key": "k", "fast_path": False,
            "timings": {"import": 1.0, "export": export, "lower": 2.0, "partition": 0.1, "convert": 0.05,
                        "build": trt + 0.01, "write": 0.3},
            "trt_build": trt, "engine_bytes": 102_627_236, "segments": {"tensorrt": 1, "torch": 0}}


def _triple(wall: float, problems: list[str] | None = None) -> dict:
    return {"cold": _cold(wall, 3.0, 1.0), "cached": {"wall": wall - 2, "max_rss_mib": 900.0},
            "noop": {"wall": 0.5, "max_rss_mib": 40.0}, "problems": problems or []}


def _results() -> dict:
    triples = [_triple(10.0), _triple(12.0), _triple(11.0), _triple(99.0, ["noop: fast_path is False"])]
    return {"repeat": 4, "command": "python -m bench", "date": "2026-01-01", "duration_seconds": 100.0,
            "machine": {"cpu": "Test CPU", "cores": 2, "usable_cores": 2, "ram_gib": 8.0, "python": "3.11",
                        "torch": "2.x", "torchvision": "0.x", "tensorrt": {"tensorrt_rtx": "1.7"}},
            "load": {"median": 1.0, "max": 2.0, "at_end": [1.0, 1.0, 1.0]},
            "imports": {"torch": {"statement": "import torch", "walls": [2.0, 2.2, 2.1]}},
            "hashing": {"bytes": 1 << 30, "tensors": 16, "tensor_mib": 64, "threads": 2, "digest_tensors_gbps": 2.0,
                        "sha256_gbps": 1.0, "speedup": 2.0},
            "recipes": [{"name": "resnet50", "path": "recipes/resnet50.toml", "repeats": triples,
                         "summary": summarize_recipe(triples, torch_import=2.1)}]}


def test_summary_takes_medians_of_clean_runs_only():
    s = _results()["recipes"][0]["summary"]
    assert (s["runs"], s["valid_runs"]) == (4, 3)
    assert s["cold_wall"] == 11.0 and s["cached_wall"] == 9.0 and s["noop_wall"] == 0.5
    assert s["overhead"] == 11.0 - 3.0 - 1.0
    assert abs(s["overhead_minus_torch_import"] - (7.0 - 2.1)) < 1e-9
    assert abs(s["unstaged"] - (11.0 - (1.0 + 3.0 + 2.0 + 0.1 + 0.05 + 1.01 + 0.3))) < 1e-9
    assert s["outside_make"] == 1.5 and abs(s["unstaged_in_make"] + s["outside_make"] - s["unstaged"]) < 1e-9
    assert s["problems"] == ["noop: fast_path is False"]


def _cells(table_text: str) -> list[dict[str, str]]:
    header, rule, *rows = table_text.splitlines()
    cols = [c.strip() for c in header.strip("|").split("|")]
    assert rule.count("|") - 1 == len(cols)
    out = []
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(cells) == len(cols)
        out.append(dict(zip(cols, cells)))
    return out


def test_table_and_markdown():
    results = _results()
    cold_table, other_table = table(results).split("\n\n")
    header = [c.strip() for c in cold_table.splitlines()[0].strip("|").split("|")]
    assert header[:11] == ["model", "cold wall", "cold CPU", "import", "export", "lower", "partition", "convert",
                           "TRT build", "write", "start+exit"]
    (cold,), (other,) = _cells(cold_table), _cells(other_table)
    assert cold["cold wall"] == "11.00" and cold["own overhead"] == "7.00" and cold["TRT build"] == "1.00"
    assert other["engine MB"] == "102.6" and other["clean runs"] == "3/4" and other["no-op"] == "0.50"
    assert other["segments TRT/torch"] == "1/0"
    md = markdown(results)
    assert "Test CPU" in md and "tensorrt_rtx 1.7" in md and "GB/s" in md
    assert "Discarded run of resnet50: noop: fast_path is False" in md
    json.dumps(results)  # the results document stays JSON


def test_replace_block_keeps_prose_around_markers():
    doc = f"# Perf\n\nintro\n\n{START}\nold table\n{END}\n\nmore prose\n"
    new = replace_block(doc, "new table\n")
    assert new == f"# Perf\n\nintro\n\n{START}\nnew table\n{END}\n\nmore prose\n"
    assert replace_block(new, "x") == replace_block(doc, "x")
    assert replace_block("# Perf\n", "t").endswith(f"{START}\nt\n{END}\n")


def test_check_triple_flags_missing_fast_path_and_cache_miss():
    def run(kind: str, **report) -> MakeRun:
        return MakeRun(kind, ChildRun([], 0, 1.0, 1.0, 0.0, 0.0, "", ""), report=report)

    good = [run("cold", status="built", key="a"), run("cached", status="cached", key="a", fast_path=False),
            run("noop", status="cached", key="a", fast_path=True)]
    assert check_triple(good) == []
    bad = [run("cold", status="built", key="a"), run("cached", status="built", key="b", fast_path=False),
           run("noop", status="built", key="b", fast_path=False)]
    problems = check_triple(bad)
    assert any(p.startswith("cached:") for p in problems) and any(p.startswith("noop:") for p in problems)


def test_from_json_and_write_docs(tmp_path, capsys):
    results, docs = tmp_path / "results.json", tmp_path / "performance.md"
    results.write_text(json.dumps(_results()))
    docs.write_text(f"# Performance\n\nprose\n\n{START}\n{END}\n\nafter\n")
    assert bench_main(["--from-json", str(results), "--write-docs", "--docs", str(docs)]) == 0
    text = docs.read_text()
    assert "| resnet50 | 11.00 |" in text and text.endswith(f"{END}\n\nafter\n") and "prose" in text
    assert "| resnet50 |" in capsys.readouterr().out


def test_profile_summary_medians():
    def run(total: float) -> dict:
        return {"total_wall": total, "process_wall": total + 1, "max_rss_mib": 100.0, "make_wall": total - 1,
                "trt_build": 1.0, "engine_bytes": 5, "imports": {"torch": 2.0}, "stage_timings": {"lower": 1.0},
                "probes": {"trtbuild.pipeline:lower": {"seconds": total / 10, "calls": 1}}, "missing_probes": []}

    s = summarize([run(10.0), run(30.0), run(20.0)])
    assert s["total_wall"] == 20.0 and s["outside_script"] == 1.0
    assert s["probes"]["trtbuild.pipeline:lower"] == {"seconds": 2.0, "calls": 1}


# -- --compare ---------------------------------------------------------------------------------

def _measured(wall: float, rss: float, error: str | None = None) -> dict:
    return {"wall": wall, "max_rss_mib": rss, "cpu_seconds": wall, "load1": 1.0, "error": error,
            "timings": {"export": 1.0}}


def _compare_results() -> dict:
    from bench import compare

    def model(name: str, ours: list[float], theirs: list[float]) -> dict:
        rounds = [{"ours cold": _measured(o, 900.0, "exit 1: boom" if o == 99.0 else None),
                   "Torch-TensorRT cold": _measured(t, 1200.0), "ours no-op": _measured(0.2, 40.0)}
                  for o, t in zip(ours, theirs)]
        return {"name": name, "path": f"recipes/zoo/{name}.toml", "rounds": rounds,
                "summary": compare.summarize(rounds)}

    # the third resnet50 run fails: it is left out of the medians
    models = [model("resnet50", [4.0, 5.0, 99.0], [10.0, 10.0, 10.0]), model("vit", [3.0], [12.0])]
    return {"format": "compare-1", "date": "2026-01-01", "command": "python -m bench --compare", "repeat": 3,
            "python": "build/bench/anchor-venv/bin/python",
            "versions": {"torch": "2.x", "torchvision": "0.x", "tensorrt-rtx": "1.6", "torch-tensorrt-rtx": "2.y"},
            "driver_tensorrt": ["1.6"], "machine": {"cpu": "Test CPU", "cores": 2},
            "load": {"at_start": [1.0, 1.0, 1.0], "at_end": [2.0, 1.0, 1.0], "median": 1.0, "max": 2.0},
            "models": models, "overall": compare.overall(models), "duration_seconds": 10.0}


def test_compare_rounds_respect_order_and_swap_the_cold_pair():
    from bench.compare import SCENARIOS, round_order

    first, second = ([s.name for s in round_order(SCENARIOS, i)] for i in (0, 1))
    assert first == ["ours cold", "Torch-TensorRT cold", "ours no-op"]
    assert second == ["Torch-TensorRT cold", "ours cold", "ours no-op"]  # the no-op still follows ours cold


def test_compare_table_has_ours_theirs_ratio_and_memory_per_model():
    from bench.compare import markdown, table

    results = _compare_results()
    rows = _cells(table(results))
    resnet, vit, total = rows
    assert resnet["ours cold (s)"] == "4.50" and resnet["Torch-TensorRT cold (s)"] == "10.00"
    assert resnet["ratio (cold)"] == "0.45" and resnet["RSS ratio"] == "0.75" and resnet["ours no-op (s)"] == "0.20"
    assert resnet["peak RSS MiB, ours cold"] == "900" and resnet["runs ok"] == "2 / 3 / 3 of 3"
    assert vit["ratio (cold)"] == "0.25" and total["ratio (cold)"] == "**0.35**"  # median over the models
    md = markdown(results)
    assert "tensorrt-rtx 1.6" in md and "at start [1.0, 1.0, 1.0], at end [2.0, 1.0, 1.0]" in md
    assert "- resnet50, ours cold: exit 1: boom" in md


def test_compare_from_json_writes_its_own_block(tmp_path):
    results, docs = tmp_path / "compare.json", tmp_path / "performance.md"
    results.write_text(json.dumps(_compare_results()))
    docs.write_text(f"# Performance\n\n{START}\nkept\n{END}\n\n<!-- compare:start -->\n<!-- compare:end -->\n")
    assert bench_main(["--compare", "--from-json", str(results), "--write-docs", "--docs", str(docs)]) == 0
    text = docs.read_text()
    assert f"{START}\nkept\n{END}" in text and "| resnet50 | 4.50 | 10.00 |" in text


def test_only_a_docs_run_replaces_the_tracked_results():
    """bench/*.json is the data behind the docs' tables; a partial run while developing writes to build/."""
    from bench.__main__ import ROOT, parse_args

    assert parse_args(["--compare", "resnet50"]).json_path == str(ROOT / "build" / "bench" / "compare.json")
    assert parse_args(["--compare", "--write-docs"]).json_path == str(ROOT / "bench" / "compare.json")
    assert parse_args([]).json_path == str(ROOT / "build" / "bench" / "results.json")
    assert parse_args(["--json", "x.json", "--write-docs"]).json_path == "x.json"
