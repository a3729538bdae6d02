"""hybridsearch: hybrid semantic + BM25 search.

Documents are cut into passages that fit the encoder, indexed side by side by BM25 and by a
sentence encoder in FAISS, and queries run both legs and fuse them with reciprocal rank
fusion::

    from hybridsearch import HybridIndex, read_corpus

    index = HybridIndex.build(read_corpus("corpus.jsonl"))
    for hit in index.search("how do I catch several exceptions at once", k=5):
        print(hit.rank, hit.doc_id, hit.score, hit.bm25_rank, hit.dense_rank)

The public API is what ``__all__`` lists; everything else is internal. Heavy libraries
(torch, transformers, faiss) load only when an index or encoder is made.
"""

from __future__ import annotations

from hybridsearch.sparse.analysis import Analyzer
from hybridsearch.sparse.bm25 import BM25_VARIANTS, BM25Index
from hybridsearch.corpus.chunking import Chunker, ChunkingConfig, ChunkingReport
from hybridsearch.display.html import ModeComparison, SearchBox, compare_modes
from hybridsearch.corpus.documents import (
    Document,
    Passage,
    read_beir_corpus,
    read_corpus,
    read_jsonl,
    read_text_folder,
)
from hybridsearch.errors import (
    ChecksumError,
    CorpusFormatError,
    DuplicateDocumentError,
    EmptyCorpusError,
    HybridSearchError,
    IndexFormatError,
    IndexVersionError,
    InvalidInputError,
    ModelLoadError,
    ModelMismatchError,
)
from hybridsearch.eval.evaluation import evaluate, evaluate_index, load_beir, run_from_ranked
from hybridsearch.search.fusion import convex, rrf
from hybridsearch.index.hybrid_index import BM25Settings, Explanation, HybridIndex, VectorSettings
from hybridsearch.search.planner import Plan, QueryPlanner
from hybridsearch.search.hits import Hit, Hits

__version__ = "0.1.0"

__all__ = [
    "BM25_VARIANTS",
    "Analyzer",
    "BM25Index",
    "BM25Settings",
    "ChecksumError",
    "Chunker",
    "ChunkingConfig",
    "ChunkingReport",
    "CorpusFormatError",
    "Document",
    "DuplicateDocumentError",
    "EmptyCorpusError",
    "Encoder",
    "Explanation",
    "Hit",
    "Hits",
    "HybridIndex",
    "HybridSearchError",
    "IndexFormatError",
    "IndexVersionError",
    "InvalidInputError",
    "ModeComparison",
    "ModelIdentity",
    "ModelLoadError",
    "ModelMismatchError",
    "Passage",
    "Plan",
    "QueryPlanner",
    "SearchBox",
    "VectorIndex",
    "VectorSettings",
    "__version__",
    "compare_modes",
    "convex",
    "evaluate",
    "evaluate_index",
    "load_beir",
    "read_beir_corpus",
    "read_corpus",
    "read_jsonl",
    "read_text_folder",
    "rrf",
    "run_from_ranked",
]


def __getattr__(name: str) -> object:
    # Encoder, ModelIdentity and VectorIndex import torch or faiss: load them on first use so
    # `import hybridsearch` (and `hybridsearch --help`) stays fast.
    if name in ("Encoder", "ModelIdentity"):
        from hybridsearch.dense import encoder

        return getattr(encoder, name)
    if name == "VectorIndex":
        from hybridsearch.dense.vectors import VectorIndex

        return VectorIndex
    raise AttributeError(f"module 'hybridsearch' has no attribute {name!r}")
