"""scripts/conformance.py: docs/conformance.md from the peer suite's results.json."""

import json
import subprocess
import sys

from tests.conftest import ROOT

SCRIPT = ROOT / "scripts" / "conformance.py"


def _case(name, category, **extra):
    return {"id": f"dynamo/conversion/test_{name}", "category": category, "file": name.split("::")[0], **extra}


RESULTS = {
    "totals": {"files": 2, "cases": 4, "pass": 1, "fail-numeric": 0, "fallback": 1, "error-trtbuild": 0,
               "error-export": 1, "error-other": 0, "fail-other": 0, "timeout": 0, "crashed": 0,
               "adapter-skip": 0, "upstream-skip": 1},
    "per_file": {
        "test_flip_aten.py": {"cases": 2, "pass": 1, "fail-numeric": 0, "fallback": 1, "error-trtbuild": 0,
                              "error-export": 0, "error-other": 0, "fail-other": 0, "timeout": 0, "crashed": 0,
                              "adapter-skip": 0, "upstream-skip": 0},
        "test_nonzero_aten.py": {"cases": 2, "pass": 0, "fail-numeric": 0, "fallback": 0, "error-trtbuild": 0,
                                 "error-export": 1, "error-other": 0, "fail-other": 0, "timeout": 0, "crashed": 0,
                                 "adapter-skip": 0, "upstream-skip": 1},
    },
    "cases": [
        _case("flip_aten.py::T::test_flip_0", "pass"),
        _case("flip_aten.py::T::test_flip_1", "fallback", fallbacks=[
            {"node": "flip", "op": "aten.flip.default", "reason": "capability check failed: TensorRT has no X",
             "source": "x.py:3 in forward"}]),
        _case("nonzero_aten.py::T::test_nz_0", "error-export", exception="torch.export refused: data-dependent\nmore"),
        _case("nonzero_aten.py::T::test_nz_1", "upstream-skip", exception="nonzero is not supported for rtx"),
    ],
}


def test_the_page_has_the_commit_totals_files_and_every_fallback_reason(tmp_path):
    (tmp_path / "results.json").write_text(json.dumps(RESULTS))
    (tmp_path / "meta.json").write_text(json.dumps({"upstream_commit": "abc123", "trtbuild": "0.1.0"}))
    out = tmp_path / "conformance.md"
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    page = out.read_text()
    assert "pytorch/TensorRT @ `abc123`" in page
    assert "| 2 | 4 | 1 |  | 1 |  | 1 |  |  |  |  |  | 1 |" in page
    assert "**1/3 = 33.3%**" in page and "errors inside trtbuild: **0**" in page
    assert "| flip | 2 | 1 |  | 1 |" in page
    assert "- **1** — `aten.flip.default`: capability check failed: TensorRT has no X" in page
    assert "`test_flip_aten.py::T::test_flip_1`" in page
    assert "## error-export, by cause" in page and "- **1** — torch.export refused: data-dependent" in page
    assert "- **1** — nonzero is not supported for rtx" in page


def test_missing_results_say_how_to_get_them(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), str(tmp_path), str(tmp_path / "c.md")],
                          capture_output=True, text=True)
    assert done.returncode == 2 and "run ../shared/peer/run.sh first" in done.stderr
    assert not (tmp_path / "c.md").exists()
