"""Building an index: the pipeline run once over a corpus, stage by stage, timed.

documents -> chunker -> passages -> analyzer -> BM25 index
                                 -> encoder  -> vector index

Every setting is checked (settings classes validate when made, and the vector index is made
before the slow stages) so a bad one fails in seconds, not after encoding.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hybridsearch.corpus.chunking import Chunker, ChunkingReport
from hybridsearch.corpus.documents import Document, check_unique_ids
from hybridsearch.errors import EmptyCorpusError
from hybridsearch.index.passages import PassageTable
from hybridsearch.index.settings import IndexSettings
from hybridsearch.sparse.analysis import Analyzer
from hybridsearch.sparse.bm25 import BM25Index

__all__ = ["BuildInfo", "BuiltIndex", "build_index", "corpus_fingerprint"]


@dataclass(frozen=True)
class BuildInfo:
    """What a build did and what it was built from (kept in the manifest).

    Attributes:
        chunking_report: Documents split, tokens that would have been cut, ...
        seconds: Seconds per stage (read, chunk, bm25, encode, vectors).
        source: Where the corpus came from: ``fingerprint`` (sha256 of the documents),
            ``documents`` and, when read from disk, ``path``.
        model_source: What :meth:`HybridIndex.load` reopens: a model folder (absolute) or
            hub name.
    """

    chunking_report: ChunkingReport
    seconds: Mapping[str, float] = field(default_factory=dict)
    source: Mapping[str, Any] = field(default_factory=dict)
    model_source: str | None = None


@dataclass(frozen=True)
class BuiltIndex:
    """The parts a build makes, before they become a HybridIndex."""

    passages: PassageTable
    analyzer: Analyzer
    bm25_index: BM25Index
    vector_index: Any
    info: BuildInfo


def corpus_fingerprint(documents: Sequence[Document]) -> str:
    """sha256 over the documents as stored (id, title, text, metadata), in order.

    Two corpora with this fingerprint index identically, whatever files they came from.
    """
    digest = hashlib.sha256()
    for document in documents:
        record = [document.id, document.title, document.text, dict(document.metadata)]
        digest.update(json.dumps(record, ensure_ascii=False, sort_keys=True).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def build_index(
    documents: Iterable[Document],
    settings: IndexSettings,
    encoder: Any,
    *,
    progress: bool = False,
    embedding_cache: str | Path | None = None,
    source_path: str | Path | None = None,
) -> BuiltIndex:
    """Run the pipeline: chunk, analyse + BM25, encode + vector index; time each stage.

    Raises:
        EmptyCorpusError: no documents.
        DuplicateDocumentError: two documents share an id.
        InvalidInputError: an item is not a Document.
    """
    from hybridsearch.dense.embedding_cache import encode_passages_cached
    from hybridsearch.dense.vectors import VectorIndex

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    documents = check_unique_ids(documents)
    if not documents:
        raise EmptyCorpusError("cannot build an index from an empty corpus (no documents)")
    source = _source(documents, source_path)
    seconds["read"] = time.perf_counter() - started
    vector_index = VectorIndex.from_settings(encoder.dimension, settings.vectors)

    started = time.perf_counter()
    chunker = Chunker.for_encoder(encoder, settings.chunking)
    passages, report = chunker.chunk(_progress(documents, progress, "chunking", "doc"))
    seconds["chunk"] = time.perf_counter() - started

    started = time.perf_counter()
    analyzer = Analyzer.from_settings(settings.analyzer)
    texts = [passage.indexed_text for passage in passages]
    passage_tokens = analyzer.analyze_many(_progress(texts, progress, "BM25", "passage"))
    bm25_index = BM25Index.build(passage_tokens, settings.bm25)
    seconds["bm25"] = time.perf_counter() - started

    started = time.perf_counter()
    passage_vectors = encode_passages_cached(encoder, texts, embedding_cache)
    seconds["encode"] = time.perf_counter() - started

    started = time.perf_counter()
    vector_index.add(passage_vectors, np.arange(len(passages), dtype=np.int64))
    seconds["vectors"] = time.perf_counter() - started

    info = BuildInfo(
        chunking_report=report,
        seconds=seconds,
        source=source,
        model_source=model_source(encoder.identity.name),
    )
    return BuiltIndex(PassageTable.from_passages(documents, passages), analyzer, bm25_index,
                      vector_index, info)


def model_source(name: str) -> str:
    """What load() reopens: a local folder as an absolute path, else the name as given."""
    folder = Path(name).expanduser()
    return str(folder.resolve()) if folder.is_dir() else name


def _source(documents: Sequence[Document], path: str | Path | None) -> dict[str, Any]:
    source: dict[str, Any] = {
        "fingerprint": corpus_fingerprint(documents),
        "documents": len(documents),
    }
    if path is not None:
        source["path"] = str(Path(path).resolve())
    return source


def _progress(items: Sequence[Any], enabled: bool, stage: str, unit: str) -> Iterable[Any]:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=stage, unit=unit)
