"""How long a fresh process takes to load a saved index, and what it imports on the way.

    python benchmarks/load_time.py indexes/scifact                        # this checkout
    python benchmarks/load_time.py indexes/scifact --compare /tmp/base    # side by side

Each figure is the best (and the median) of ``--runs`` fresh processes (default 5), so every
run pays the imports a user's first load pays:

- ``index_load_s``: ``HybridIndex.load(path, model=encoder)`` with the encoder made
  beforehand: the index's own part of a load, what issue 10's "load <= 1 s" target and
  ``benchmarks/scale.py`` measure (imports the model does not need, such as nltk, count here).
- ``full_load_s``: ``HybridIndex.load(path)``, the model included (torch, transformers and the
  weights), what a user of the default call waits for.
- ``first_search_s``: the first hybrid search after the full load (the warm-up wait included).

``--compare ROOT`` runs the same measurements with another checkout's code (``PYTHONPATH=ROOT``,
for example ``git archive <commit> | tar -x -C ROOT``) in the same run, alternating, so the two
see the same machine load. The ten slowest top-level imports of a full load (``python -X
importtime``, cumulative) are recorded per checkout. Writes ``benchmarks/results/load_time.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from _common import REPO_ROOT, write_results

_CHILD = """
import json, sys, time
started = time.perf_counter()
from hybridsearch import HybridIndex
imported = time.perf_counter()
figures = {"import_s": imported - started}
if sys.argv[2] == "index":
    from hybridsearch.dense.encoder import Encoder
    encoder = Encoder()
    started = time.perf_counter()
    HybridIndex.load(sys.argv[1], model=encoder)
    figures["index_load_s"] = time.perf_counter() - started
else:
    started = time.perf_counter()
    index = HybridIndex.load(sys.argv[1])
    loaded = time.perf_counter()
    index.search("cell proliferation in tumours", k=10)
    figures["full_load_s"] = loaded - started
    figures["first_search_s"] = time.perf_counter() - loaded
figures["nltk_imported"] = "nltk" in sys.modules
print(json.dumps(figures))
"""

_IMPORT_LINE = re.compile(r"import time:\s+\d+ \|\s+(\d+) \|( *)(\S+)")


def _run_child(root: Path, index: Path, mode: str, importtime: bool = False) -> tuple[dict, str]:
    environment = {**os.environ, "PYTHONPATH": str(root)}
    command = [sys.executable, *(["-X", "importtime"] if importtime else []), "-c", _CHILD]
    completed = subprocess.run(
        [*command, str(index), mode],
        capture_output=True, text=True, env=environment, cwd=root, check=False,
    )  # fmt: skip
    if completed.returncode != 0:
        raise SystemExit(f"child failed ({root}, {mode}):\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1]), completed.stderr


def _top_imports(stderr: str, count: int = 10) -> list[dict[str, Any]]:
    """The slowest top-level imports (cumulative microseconds) of an ``-X importtime`` log."""
    rows = []
    for line in stderr.splitlines():
        match = _IMPORT_LINE.match(line)
        if match and len(match.group(2)) <= 1:  # one space before a top-level name
            rows.append((int(match.group(1)), match.group(3)))
    rows.sort(reverse=True)
    return [
        {"module": name, "cumulative_s": round(micros / 1e6, 3)} for micros, name in rows[:count]
    ]


def _summary(values: list[float]) -> dict[str, float]:
    return {"best": round(min(values), 3), "median": round(statistics.median(values), 3)}


def measure(roots: dict[str, Path], index: Path, runs: int) -> dict[str, Any]:
    """Best/median figures per checkout, runs alternating between checkouts."""
    samples: dict[str, dict[str, list[float]]] = {label: {} for label in roots}
    nltk: dict[str, bool] = {}
    for run in range(runs):
        for label, root in roots.items():
            for mode in ("index", "full"):
                figures, _ = _run_child(root, index, mode)
                nltk[label] = figures.pop("nltk_imported")
                for name, value in figures.items():
                    samples[label].setdefault(name, []).append(value)
        print(f"run {run + 1}/{runs} done", file=sys.stderr)
    results = {}
    for label, root in roots.items():
        _, log = _run_child(root, index, "full", importtime=True)
        results[label] = {
            "root": str(root),
            "nltk_imported": nltk[label],
            **{name: _summary(values) for name, values in samples[label].items()},
            "top_imports_full_load": _top_imports(log),
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("index", type=Path, help="a saved index directory")
    parser.add_argument("--compare", type=Path, help="another checkout to measure beside this")
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per figure")
    args = parser.parse_args()
    roots = {"this": REPO_ROOT}
    if args.compare is not None:
        roots["compare"] = args.compare.resolve()
    results = measure(roots, args.index.resolve(), args.runs)
    for label, figures in results.items():
        print(f"{label} ({figures['root']}): nltk imported: {figures['nltk_imported']}")
        for name in ("import_s", "index_load_s", "full_load_s", "first_search_s"):
            print(f"  {name:16} best {figures[name]['best']:7.3f}  median "
                  f"{figures[name]['median']:7.3f}")  # fmt: skip
        for row in figures["top_imports_full_load"]:
            print(f"    {row['cumulative_s']:7.3f} s  {row['module']}")
    path = write_results("load_time", {
        "index": str(args.index), "runs": args.runs, "load_average": os.getloadavg(),
        "results": results,
    })  # fmt: skip
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
