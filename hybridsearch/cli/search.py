"""``hybridsearch search``: one query against an index, as a readable list or as JSON.

``--explain`` adds the plan (legs, depth, fusion, the BM25 terms, the filter and how many
passages pass it) and where the time went. ``--filter`` takes the filter language of
:mod:`hybridsearch.search.filters` as JSON; it is checked before the index loads, and against
the index's field types when the search runs.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from hybridsearch.cli.options import FUSIONS, MODES, add_model_option, load_index
from hybridsearch.display.terminal import format_hits, printable_lines, use_color
from hybridsearch.errors import InvalidInputError

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
    parser.add_argument(
        "--fusion", choices=FUSIONS, help="default: the index's fusion (tuned, or rrf)"
    )
    parser.add_argument(
        "--filter",
        metavar="JSON",
        help='only documents whose metadata pass this filter, e.g. \'{"year": {"gte": 2020}}\' '
        "(scores unchanged)",
    )
    parser.add_argument("--json", action="store_true", help="print the hits as JSON")
    parser.add_argument(
        "--explain", action="store_true", help="print the plan and where the time went"
    )
    return parser


def run(args: argparse.Namespace) -> int:
    """Search and print the hits (and the plan and timings with ``--explain``)."""
    options: dict[str, Any] = {"mode": args.mode, "unit": args.unit}
    if args.fusion is not None:
        options["fusion"] = args.fusion
    if args.filter is not None:
        options["filter"] = parse_filter_option(args.filter)
    index = load_index(args.index, args.model)
    hits = index.search(args.query, args.k, **options)
    if args.json:
        payload: dict[str, Any] = {"query": args.query, "hits": hits.to_dicts()}
        if args.explain:
            payload["plan"] = hits.plan.to_dict()
            payload["timings_ms"] = hits.timings
        print(json.dumps(payload, indent=2, ensure_ascii=False))
        return 0
    if args.explain:
        # The plan quotes the query: control characters in it must not reach the terminal.
        print(printable_lines(hits.plan.describe()))
        print(printable_lines(hits.describe_timings()))
        print()
    print(format_hits(hits, color=use_color()))
    return 0


def parse_filter_option(text: str) -> Any:
    """The ``--filter`` JSON, parsed and checked (before the index and torch load).

    Raises:
        InvalidInputError: not JSON (where it breaks), or not a filter (the place in it).
    """
    from hybridsearch import SearchOptions

    try:
        spec = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInputError(
            f"--filter is not valid JSON: {error.msg} at character {error.pos + 1} of {text!r}"
        ) from None
    SearchOptions(filter=spec)  # the filter's own checks; its field types wait for the index
    return spec
