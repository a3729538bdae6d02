"""``hybridsearch tune``: fit an index's fusion on labelled queries and make it the default.

Reads queries (JSONL: ``_id`` and ``text`` per line, as BEIR's ``queries.jsonl``) and their
judgements (a BEIR qrels TSV), fits the fusion method, weights and RRF's k by
cross-validation on those queries only, prints the cross-validated estimate beside each leg
alone, and commits the tuned fusion as the index's default (``--dry-run``: report only).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from hybridsearch.cli.options import add_model_option, open_index


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``tune`` and its options to ``subparsers``."""
    parser = subparsers.add_parser(
        "tune",
        help="fit the fusion on labelled queries; it becomes the index's default",
        description="Fit the fusion (RRF k and weights, convex min-max / z-score or DBSF "
        "weights) on labelled queries by k-fold cross-validation, print the estimate beside "
        "each leg alone, and commit it as the index's default fusion. 20-50 queries are "
        "enough; choose them from your own users' questions, never from a test set.",
    )
    parser.add_argument("--index", required=True, help="the index directory")
    add_model_option(parser)
    parser.add_argument("--queries", required=True, help="queries JSONL (_id, text)")
    parser.add_argument(
        "--qrels", required=True, help="judgements TSV (query-id, corpus-id, score)"
    )
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds (default 5)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the folds (default 0)")
    parser.add_argument(
        "--depth", type=int, default=100, help="candidate passages per leg (default 100)"
    )
    parser.add_argument(
        "--no-rm3",
        action="store_true",
        help="do not try RM3 feedback on the BM25 leg (tried by default, kept only if it wins)",
    )
    parser.add_argument("--dry-run", action="store_true", help="report only; commit nothing")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    """Tune, print the estimates (and any fused-below-a-leg warning), commit."""
    from hybridsearch.eval.beir import read_qrels, read_queries

    # The files first: a wrong path fails before the index (and torch) loads.
    queries, qrels = read_queries(args.queries), read_qrels(args.qrels)
    start = time.perf_counter()
    with open_index(args.index, args.model) as index:
        result = index.tune(
            queries, qrels, folds=args.folds, seed=args.seed, depth=args.depth, rm3=not args.no_rm3
        )
        generation = None if args.dry_run else index.commit()
    seconds = time.perf_counter() - start
    if args.json:
        payload = {
            "queries": result.queries,
            "folds": result.folds,
            "metric": result.metric,
            "cv_estimate": result.estimate,
            "leg_estimates": dict(result.leg_estimates),
            "untuned_rrf": result.default_rrf,
            "best": {"setting": result.best.describe(), "in_sample": result.in_sample},
            "kept": result.tuned.kept,
            "stored": None if generation is None else result.tuned.to_dict(),
            "commit": generation,
            "warnings": list(result.warnings),
        }
        print(json.dumps(payload, indent=2))
    else:
        print(result.report())
    done = "dry run: nothing committed" if generation is None else f"commit {generation}"
    print(f"tuned on {result.queries} queries; {done} ({seconds:.1f} s)", file=sys.stderr)
    return 0
