"""Render benchmarks/results/adapt.md from the adapt_<dataset>.json files benchmarks/adapt.py
writes: per dataset, base and each condition, test nDCG@10 per mode, the dev check (hybrid
RRF decides, as ``hybridsearch adapt`` does) and the time it took. The full runs (``adapt.py
--dev-fraction ... --all-fusions``: every fusion, a held-out dev part of the train queries,
fusion tuned on it) go to adapt_full.md instead.

    python benchmarks/adapt_report.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import NOISE_NOTE, RESULTS_DIR

COLUMNS = ("dense", "hybrid-rrf", "hybrid-convex")
FULL_COLUMNS = ("dense", "hybrid-rrf", "hybrid-convex", "hybrid-convex-zscore", "hybrid-dbsf")


def main() -> None:
    """Write adapt.md from whichever adapt_*.json results exist."""
    lines = [
        "# Encoder adaptation (`hybridsearch adapt` / `finetune`)",
        "",
        "nDCG@10 on the TEST split (document results, order shown). The keep/discard "
        "decision uses the dev labels only (scifact: a seeded sample of its train queries; "
        "nfcorpus: of its dev queries), on hybrid RRF, as `adapt --dev-queries/--dev-qrels` "
        "does; supervised runs train on scifact's train pairs, so no dev check is made for "
        "them. Test figures are reported for every run, kept or not; nothing was chosen on "
        "them.",
        "",
    ]
    paths = sorted(RESULTS_DIR.glob("adapt_*.json"))
    full = [path for path in paths if json.loads(path.read_text()).get("dev_fraction")]
    for result in _merged_parts([path for path in paths if path not in full]):
        lines += _dataset_section(result)
    lines += ["", NOISE_NOTE, ""]
    (RESULTS_DIR / "adapt.md").write_text("\n".join(lines), encoding="utf-8")
    print(RESULTS_DIR / "adapt.md")
    if full:
        _write_full(_merged_parts(full))


def _merged_parts(paths: list[Path]) -> list[dict]:
    """One result per dataset: the parts run in parallel (``--part``) merged, base included."""
    merged: dict[str, dict] = {}
    for path in paths:
        part = json.loads(path.read_text())
        result = merged.setdefault(part["dataset"], {**part, "conditions": {}})
        result["base"] = result.get("base") or part.get("base")
        result["conditions"].update(part["conditions"])
        if part["conditions"]:  # the caps of the runs shown (a base-only part has none)
            result["caps"] = part["caps"]
    return [result for result in merged.values() if result.get("base")]


def _dataset_section(result: dict) -> list[str]:
    caps = result["caps"]
    mode = "query side only (stored passage vectors)" if caps["query_only"] else "both towers"
    lines = [
        f"## {result['dataset']}",
        "",
        f"Trained: {mode}; caps: at most {caps['max_pairs']} pairs, max_seq_length "
        f"{caps['max_seq_length']}, {caps['epochs']} epoch, batch {caps['batch_size']}, "
        f"learning rate {caps['learning_rate']}; dev: {result.get('dev_queries', '?')} "
        f"{result['dev_split']} queries. CPU, 2 busy cores, nice 10 (machine in the JSON).",
        "",
        "| run | pairs | steps | "
        + " | ".join(f"test {c}" for c in COLUMNS)
        + " | dev hybrid-rrf (base -> run) | kept | minutes |",
        "|---|---|---|" + "---|" * len(COLUMNS) + "---|---|---|",
    ]
    base = result["base"]
    lines.append(
        "| base (all-MiniLM-L6-v2) | | | "
        + " | ".join(f"{base['test'][c]:.4f}" for c in COLUMNS)
        + f" | {base['dev']['hybrid-rrf']:.4f} | | |"
    )
    for name, run in result["conditions"].items():
        test = " | ".join(
            f"{run['test'][c]:.4f} ({run['test'][c] - base['test'][c]:+.4f})" for c in COLUMNS
        )
        if "dev" in run:
            gain = run["dev"]["hybrid-rrf"] - base["dev"]["hybrid-rrf"]
            dev = f"{base['dev']['hybrid-rrf']:.4f} -> {run['dev']['hybrid-rrf']:.4f} ({gain:+.4f})"
            kept = "yes" if gain > 0 else "no"
        else:
            dev, kept = "none (trained on train labels)", "unchecked"
        minutes = run.get("wall_seconds", 0) / 60
        lines.append(
            f"| {name} | {run['pairs']} | {run['steps']} | {test} | {dev} | {kept} | "
            f"{minutes:.0f} |"
        )
    return [*lines, ""]


def _write_full(results: list[dict]) -> None:
    """adapt_full.md: every fusion and the tuned one, test and held-out dev, per condition."""
    lines = [
        "# Encoder adaptation, full runs (every training pair, a held-out dev part)",
        "",
        "nDCG@10, document results in the order shown. **Dev** is a held-out part of the "
        "dataset's train queries (a seeded 20% sample, `--dev-fraction 0.2 --split-seed 0`): "
        "the supervised conditions train on the other 80% only, so the keep decision and the "
        "fusion tuning (`tune`, 5-fold CV, on the dev part) use queries the encoder never saw. "
        "Test figures are reported for every run; nothing was chosen on them. 'fusion best "
        "on dev': the untuned (equal-weight) fusion with the best dev score, a rule fixed "
        "before any adapted run was scored; 'kept': `adapt`'s own rule (dev hybrid RRF rises).",
        "",
        "Runs training both towers (`--symmetric`: the corpus re-encoded; the rows without "
        "query-only) were first started on the busy CPU and stopped: 193 s per training step "
        "of 32 pairs (three runs side by side, load average 13). One (supervised-deoverlap, 1 "
        "epoch) was rerun when the load fell to 4-8: 27 s a step, re-encoding at 12 passages/s. "
        "The base figures come from the first run's base scoring "
        "(adapt_scifact_symmetric_full_a.json), the same base for both modes.",
        "",
    ]
    for result in results:
        lines += _full_section(result)
    lines += ["", NOISE_NOTE, ""]
    (RESULTS_DIR / "adapt_full.md").write_text("\n".join(lines), encoding="utf-8")
    print(RESULTS_DIR / "adapt_full.md")


def _full_section(result: dict) -> list[str]:
    caps, base = result["caps"], result["base"]
    lines = [
        f"## {result['dataset']}",
        "",
        "Both towers trained and the corpus re-encoded, except in runs named query-only "
        "(the query side trained against the stored passage vectors, nothing re-encoded); "
        f"at most {caps['max_pairs']} pairs, "
        f"max_seq_length {caps['max_seq_length']} in training, batch {caps['batch_size']}, "
        "BM25 hard negatives, epochs and learning rate per run below; "
        f"{result.get('training_queries')} training / {result['dev_queries']} dev queries. "
        "CPU, 2 busy cores, nice 10 (machine, load averages in the JSON).",
        "",
        "| run | split | " + " | ".join(FULL_COLUMNS) + " | tuned (setting) |",
        "|---|---|" + "---|" * len(FULL_COLUMNS) + "---|",
    ]
    for name, run in [("base", base), *result["conditions"].items()]:
        for split in ("test", "dev"):
            cells = [
                f"{run[split][c]:.4f}"
                + ("" if run is base else f" ({run[split][c] - base[split][c]:+.4f})")
                for c in FULL_COLUMNS
            ]
            tuned = run["tuned"]
            tuned_cell = (
                f"{tuned['test']:.4f} ({tuned['setting']})"
                if split == "test"
                else f"CV {tuned['dev_cv']:.4f}, in-sample {tuned['dev_in_sample']:.4f}"
            )
            lines.append(f"| {name} | {split} | " + " | ".join(cells) + f" | {tuned_cell} |")
    lines += [
        "",
        "| run | epochs, lr | pairs | steps | final loss | dev hybrid-rrf gain | kept "
        "| fusion best on dev -> test | minutes (stages) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, run in [("base", base), *result["conditions"].items()]:
        chosen = _chosen_on_dev(run)
        if run is base:
            lines.append(f"| base | | | | | | | {chosen} | |")
            continue
        gain = run["dev"]["hybrid-rrf"] - base["dev"]["hybrid-rrf"]
        seconds = ", ".join(f"{stage} {value / 60:.0f}" for stage, value in run["seconds"].items())
        lines.append(
            f"| {name} | {run.get('epochs', 1)}, {run.get('learning_rate', 2e-5):g} | "
            f"{run['pairs']} | {run['steps']} | {run['final_loss']:.3f} | "
            f"{gain:+.4f} | {'yes' if gain > 0 else 'no'} | {chosen} | "
            f"{run.get('wall_seconds', 0) / 60:.0f} ({seconds}) |"
        )
    return [*lines, ""]


def _chosen_on_dev(run: dict) -> str:
    """The untuned fusion with the best dev score (equal weights), and its test score."""
    fused = [column for column in FULL_COLUMNS if column.startswith("hybrid-")]
    best = max(fused, key=lambda column: run["dev"][column])
    return f"{best.removeprefix('hybrid-')} ({run['dev'][best]:.4f}) -> {run['test'][best]:.4f}"


if __name__ == "__main__":
    main()
