"""hybridsearch: hybrid semantic + BM25 search.

Documents are cut into passages that fit the encoder, indexed side by side by BM25 and by a
sentence encoder in FAISS, and queries run both legs and fuse them with reciprocal rank
fusion::

    from hybridsearch import HybridIndex, read_corpus

    index = HybridIndex.build(read_corpus("corpus.jsonl"))
    for hit in index.search("how do I catch several exceptions at once", k=5):
        print(hit.rank, hit.doc_id, hit.score, hit.bm25_rank, hit.dense_rank)

The public API is what ``__all__`` lists. Everything else is reachable from its own module
(``hybridsearch.sparse.bm25.BM25Index``, ``hybridsearch.eval.metrics.evaluate``, ...); see
the README's "Where things live" for the layers.

Names load on first use (PEP 562), so ``import hybridsearch`` and ``hybridsearch --help`` stay
fast: torch, transformers and faiss are imported only when an index or encoder is made.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "HybridIndex": "hybridsearch.index.hybrid_index",
    "Document": "hybridsearch.corpus.documents",
    "read_corpus": "hybridsearch.corpus.readers",
    "Hit": "hybridsearch.search.hits",
    "Hits": "hybridsearch.search.hits",
    "Plan": "hybridsearch.search.plan",
    "SearchOptions": "hybridsearch.search.options",
    "ChunkingSettings": "hybridsearch.corpus.chunking",
    "AnalyzerSettings": "hybridsearch.sparse.analysis",
    "BM25Settings": "hybridsearch.sparse.bm25",
    "VectorSettings": "hybridsearch.dense.vectors",
    "HybridSearchError": "hybridsearch.errors",
    "InvalidInputError": "hybridsearch.errors",
    "IndexFormatError": "hybridsearch.errors",
    "ModelMismatchError": "hybridsearch.errors",
}

__all__ = [
    "AnalyzerSettings",
    "BM25Settings",
    "ChunkingSettings",
    "Document",
    "Hit",
    "Hits",
    "HybridIndex",
    "HybridSearchError",
    "IndexFormatError",
    "InvalidInputError",
    "ModelMismatchError",
    "Plan",
    "SearchOptions",
    "VectorSettings",
    "__version__",
    "read_corpus",
]

if TYPE_CHECKING:
    from hybridsearch.corpus.chunking import ChunkingSettings
    from hybridsearch.corpus.documents import Document
    from hybridsearch.corpus.readers import read_corpus
    from hybridsearch.dense.vectors import VectorSettings
    from hybridsearch.errors import (
        HybridSearchError,
        IndexFormatError,
        InvalidInputError,
        ModelMismatchError,
    )
    from hybridsearch.index.hybrid_index import HybridIndex
    from hybridsearch.search.hits import Hit, Hits
    from hybridsearch.search.options import SearchOptions
    from hybridsearch.search.plan import Plan
    from hybridsearch.sparse.analysis import AnalyzerSettings
    from hybridsearch.sparse.bm25 import BM25Settings


def __getattr__(name: str) -> object:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'hybridsearch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
