"""What a snippet by encoder would cost: encoding every sentence of the hits shown, against
the search that found them (why :mod:`hybridsearch.display.snippets` windows by term overlap).

    python benchmarks/snippet_cost.py        # needs the demo index: hybridsearch demo

For a few demo queries, times ``index.search(query, 10)`` and then the encoding of every
sentence (:func:`~hybridsearch.display.snippets.sentence_spans`) of the ten passages shown,
in the same run; writes ``benchmarks/results/snippet_cost.json``.
"""

from __future__ import annotations

import statistics
import sys
import time

from _common import REPO_ROOT, write_results

from hybridsearch import HybridIndex
from hybridsearch.display.snippets import sentence_spans

QUERIES = (
    "how do I catch several exceptions in one except clause",
    "difference between a list and a tuple",
    "what does the yield keyword do",
    "how to make an object usable in a with statement",
)


def main() -> int:
    index = HybridIndex.load(REPO_ROOT / "indexes" / "python-docs")
    index.search(QUERIES[0], 10)  # the first call loads the model
    rows = []
    for query in QUERIES:
        started = time.perf_counter()
        hits = index.search(query, 10)
        search_ms = (time.perf_counter() - started) * 1000
        sentences = [hit.text[start:end] for hit in hits for start, end in sentence_spans(hit.text)]
        started = time.perf_counter()
        index.encoder.encode_passages(sentences)
        encode_ms = (time.perf_counter() - started) * 1000
        rows.append({"query": query, "sentences": len(sentences), "search_ms": search_ms,
                     "encode_sentences_ms": encode_ms})  # fmt: skip
        print(f"{query!r}: {len(sentences)} sentences, search {search_ms:.0f} ms, "
              f"encoding them {encode_ms:.0f} ms", file=sys.stderr)  # fmt: skip
    ratio = statistics.median(row["encode_sentences_ms"] / row["search_ms"] for row in rows)
    path = write_results("snippet_cost", {"queries": rows, "median_ratio": ratio})
    print(f"median ratio encoding/search: {ratio:.1f}x; wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
