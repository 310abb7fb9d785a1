#!/usr/bin/env python3
"""Write docs/conformance.md from a run of Torch-TensorRT's converter tests against trtbuild.

    ../shared/peer/run.sh                 # every test file; results in build/peer/
    python scripts/conformance.py         # build/peer/results.json -> docs/conformance.md
    python scripts/conformance.py RESULTS_DIR OUT.md

Standard library only; the page is regenerated whole from the results, never edited by hand.
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

CATEGORIES = ("pass", "fail-numeric", "fallback", "error-trtbuild", "error-export", "error-other", "fail-other",
              "timeout", "crashed", "adapter-skip", "upstream-skip")
NOT_RUN = ("adapter-skip", "upstream-skip")
FAILURES = ("fail-numeric", "error-trtbuild", "error-export", "error-other", "fail-other", "timeout", "crashed")


def _row(cells) -> str:
    return "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in cells) + " |"


def _table(header, rows) -> list[str]:
    return [_row(header), _row(["---"] * len(header)), *(_row(r) for r in rows)]


def _file_name(path: str) -> str:
    return path.removeprefix("test_").removesuffix("_aten.py")


def _counts(entry: dict) -> list:
    return [entry[c] or "" for c in CATEGORIES]


def _case_name(case_id: str) -> str:
    return case_id.split("/")[-1]


def _grouped(cases: list[dict], category: str) -> list[tuple[str, list[str]]]:
    """(reason, case names) for the cases of `category`, most frequent reason first. A case that
    leaves several ops to torch is listed under each op's reason."""
    groups: dict[str, list[str]] = defaultdict(list)
    for case in cases:
        if case["category"] != category:
            continue
        if category == "fallback" and case.get("fallbacks"):
            reasons = sorted({f"`{f['op']}`: {f['reason']}" for f in case["fallbacks"]})
        else:
            reasons = [(case.get("exception") or case.get("detail") or "no message").strip().splitlines()[0][:300]]
        for reason in reasons:
            groups[reason].append(_case_name(case["id"]))
    return sorted(groups.items(), key=lambda item: (-len(item[1]), item[0]))


def _listing(title: str, intro: str, groups: list[tuple[str, list[str]]]) -> list[str]:
    lines = ["", f"## {title}", "", intro, ""]
    if not groups:
        return lines + ["None.", ""]
    for reason, names in groups:
        lines += [f"- **{len(names)}** — {reason}", "  <details><summary>cases</summary>", "",
                  *(f"  - `{n}`" for n in sorted(names)), "", "  </details>"]
    return lines + [""]


def render(results: dict, meta: dict) -> str:
    totals = results["totals"]
    ran = totals["cases"] - sum(totals[c] for c in NOT_RUN)
    lines = [
        "# Conformance: Torch-TensorRT's converter tests, run against trtbuild", "",
        "Torch-TensorRT's own converter tests (`tests/py/dynamo/conversion/test_*_aten.py`, unmodified) run "
        "against trtbuild through the adapter in `../shared/peer` (see its README): each case is exported, "
        "compiled with `min_block_size=1`, must put every op in a TensorRT segment, and its network is "
        "evaluated on the CPU reference evaluator against eager PyTorch at the case's own tolerance.", "",
        "Regenerate: `../shared/peer/run.sh` (all files), then `python scripts/conformance.py`.", "",
        f"- upstream: pytorch/TensorRT @ `{meta.get('upstream_commit', '?')}`",
        f"- trtbuild {meta.get('trtbuild', '?')}, torch {meta.get('torch', '?')}, "
        f"tensorrt-rtx {meta.get('tensorrt_rtx', '?')}", "",
        "## Totals", "",
        *_table(["files", "cases", *CATEGORIES], [[totals["files"], totals["cases"], *_counts(totals)]]), "",
        f"Pass rate over the {ran} cases that ran (not skipped): **{totals['pass']}/{ran} = "
        f"{100 * totals['pass'] / max(ran, 1):.1f}%**; errors inside trtbuild: **{totals['error-trtbuild']}**; "
        f"numeric failures: **{totals['fail-numeric']}**.", "",
        "## Per file", "",
        *_table(["file", "cases", *CATEGORIES],
                [[_file_name(name), entry["cases"], *_counts(entry)] for name, entry in sorted(results["per_file"].items())]),
    ]
    cases = results["cases"]
    lines += _listing("Fallbacks, by reason",
                      "Cases where trtbuild runs an op in torch: no converter, or a capability check that "
                      "refuses the case (its reason says what TensorRT, or the converter, cannot do).",
                      _grouped(cases, "fallback"))
    for category in FAILURES:
        groups = _grouped(cases, category)
        if groups:
            lines += _listing(f"{category}, by cause", "", groups)
    lines += _listing("Skipped, by reason", "Cases that did not run (the adapter's or upstream's own skips).",
                      [g for c in NOT_RUN for g in _grouped(cases, c)])
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str]) -> int:
    results_dir = Path(argv[0] if argv else "build/peer")
    out = Path(argv[1] if len(argv) > 1 else "docs/conformance.md")
    try:
        results = json.loads((results_dir / "results.json").read_text())
        meta_path = results_dir / "meta.json"
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    except (OSError, ValueError) as exc:
        print(f"error: cannot read the results in {results_dir}: {exc} (run ../shared/peer/run.sh first)",
              file=sys.stderr)
        return 2
    out.write_text(render(results, meta))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
