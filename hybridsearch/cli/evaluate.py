"""``hybridsearch evaluate``: nDCG@10, Recall@100 and MRR@10 of an index on a BEIR dataset,
per mode, as a table or as JSON; warns when the hybrid ranking scores below one of its legs."""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Mapping
from typing import Any

from hybridsearch.cli.options import FUSIONS, MODES, add_model_option, load_index


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``evaluate`` and its options to ``subparsers``."""
    parser = subparsers.add_parser(
        "evaluate",
        help="evaluate an index on a BEIR dataset",
        description="nDCG@10, Recall@100 and MRR@10 (pytrec_eval) per mode, on the queries "
        "of one qrels split.",
    )
    parser.add_argument("--index", required=True, help="the index directory")
    add_model_option(parser)
    parser.add_argument("--beir", required=True, help="the BEIR dataset folder")
    parser.add_argument("--split", default="test", help="qrels split (default test)")
    parser.add_argument(
        "--modes",
        nargs="+",
        default=list(MODES),
        choices=MODES,
        help="modes to evaluate (default all)",
    )
    parser.add_argument(
        "--fusion",
        choices=FUSIONS,
        help="fusion of the hybrid mode (default: the index's, tuned or rrf)",
    )
    parser.add_argument("--json", action="store_true", help="print the metrics as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    """Evaluate each mode on the split's queries and print the metrics."""
    from hybridsearch.eval.beir import load_beir
    from hybridsearch.eval.runs import evaluate_index
    from hybridsearch.eval.tuning import FusedBelowLegWarning, fused_below_legs

    # The dataset first: a wrong folder fails before the index (and torch) loads.
    dataset = load_beir(args.beir, split=args.split)
    index = load_index(args.index, args.model)
    fusion = {} if args.fusion is None else {"fusion": args.fusion}
    results = {mode: evaluate_index(index, dataset, mode=mode, **fusion) for mode in args.modes}
    scores = {mode: metrics["ndcg@10"] for mode, metrics in results.items()}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FusedBelowLegWarning)  # printed here, once, below
        below = fused_below_legs(scores, where=f"the {args.split} queries (nDCG@10)")
    if args.json:
        payload = {
            "index": args.index,
            "dataset": args.beir,
            "split": args.split,
            "queries": len(dataset.queries),
            "metrics": results,
        }
        payload["warnings"] = below
        print(json.dumps(payload, indent=2))
        _print_warnings(below)
        return 0
    print(f"{len(dataset.queries)} queries ({args.split} split of {args.beir})")
    print(metrics_table(results))
    _print_warnings(below)
    return 0


def _print_warnings(messages: list[str]) -> None:
    for message in messages:
        print(f"warning: {message}", file=sys.stderr)


def metrics_table(results: Mapping[str, Mapping[str, float]]) -> str:
    """One row per mode, one column per metric (four decimals)."""
    metric_names = list(next(iter(results.values())))
    lines = [f"{'mode':<8}" + "".join(f"{name:>12}" for name in metric_names)]
    for mode, metrics in results.items():
        lines.append(f"{mode:<8}" + "".join(f"{metrics[name]:>12.4f}" for name in metric_names))
    return "\n".join(lines)
