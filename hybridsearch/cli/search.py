"""``hybridsearch search``: one query against an index, as a readable list or as JSON.

``--explain`` adds the plan (legs, depth, fusion, the BM25 terms) and where the time went.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from hybridsearch.cli.options import FUSIONS, MODES, add_model_option, load_index
from hybridsearch.display.terminal import format_hits, use_color

UNITS = ("documents", "passages")


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``search`` and its options to ``subparsers``."""
    parser = subparsers.add_parser("search", help="search an index")
    parser.add_argument("query", help="the query text")
    parser.add_argument("--index", required=True, help="the index directory")
    add_model_option(parser)
    parser.add_argument("-k", type=int, default=10, help="results wanted (default 10)")
    parser.add_argument("--mode", default="hybrid", choices=MODES)
    parser.add_argument("--unit", default="documents", choices=UNITS)
    parser.add_argument("--fusion", default="rrf", choices=FUSIONS)
    parser.add_argument("--json", action="store_true", help="print the hits as JSON")
    parser.add_argument(
        "--explain", action="store_true", help="print the plan and where the time went"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Search and print the hits (and the plan and timings with ``--explain``)."""
    index = load_index(args.index, args.model)
    hits = index.search(args.query, args.k, mode=args.mode, unit=args.unit, fusion=args.fusion)
    if args.json:
        payload: dict[str, Any] = {"query": args.query, "hits": hits.to_dicts()}
        if args.explain:
            payload["plan"] = hits.plan.to_dict()
            payload["timings_ms"] = hits.timings
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    if args.explain:
        print(hits.plan.describe())
        print(hits.describe_timings())
        print()
    print(format_hits(hits, color=use_color()))
    return 0
