"""Building a segment: the pipeline run over a batch of documents, stage by stage, timed.

documents -> chunker -> passages -> analyzer -> postings
                                 -> encoder  -> vectors (and an HNSW graph when asked)
          -> metadata columns

A build makes one segment of the whole corpus; an ``add`` makes one of the new documents.
Settings are checked when made, so a bad one fails in seconds, not after encoding.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
import time
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hybridsearch.corpus.chunking import Chunker, ChunkingReport
from hybridsearch.corpus.documents import Document, check_unique_ids
from hybridsearch.corpus.metadata import MetadataColumns
from hybridsearch.errors import EmptyCorpusError, IndexFormatError
from hybridsearch.index.models import make_encoder
from hybridsearch.index.segment import SegmentContent
from hybridsearch.index.settings import IndexSettings
from hybridsearch.index.snapshot import Snapshot
from hybridsearch.index.writer import new_segment
from hybridsearch.sparse.analysis import Analyzer
from hybridsearch.sparse.fields import weighted_passage_tokens
from hybridsearch.sparse.postings import Postings

if TYPE_CHECKING:
    from hybridsearch.index.hybrid_index import HybridIndex

__all__ = [
    "BuildInfo",
    "build_in_memory",
    "build_segment_content",
    "checked_documents",
    "corpus_fingerprint",
    "corpus_source",
    "model_source",
]


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form, as each commit records it (the model source is in the manifest)."""
        return {
            "chunking_report": self.chunking_report.to_dict(),
            "seconds": dict(self.seconds),
            "source": dict(self.source),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, model_source: str | None) -> BuildInfo:
        """Read :meth:`to_dict`'s output (IndexFormatError naming a bad field)."""
        if not isinstance(data, Mapping) or "chunking_report" not in data:
            raise IndexFormatError("a commit's build information has no chunking_report")
        return cls(
            chunking_report=ChunkingReport.from_dict(
                data["chunking_report"], where="commit: chunking_report"
            ),
            seconds=dict(data.get("seconds") or {}),
            source=dict(data.get("source") or {}),
            model_source=model_source,
        )

    def after_change(self, report: ChunkingReport | None = None) -> BuildInfo:
        """The information after documents were added or deleted since the build.

        The corpus fingerprint no longer describes the index, so it is dropped (an
        ``open_or_build`` then rebuilds rather than trust it); the chunking reports add up.
        """
        source = {key: value for key, value in self.source.items() if key != "fingerprint"}
        source["changed_since_build"] = True
        total = self.chunking_report if report is None else self.chunking_report + report
        return BuildInfo(total, self.seconds, source, self.model_source)


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


def build_in_memory(
    cls: type[HybridIndex],
    documents: Iterable[Document],
    *,
    model: Any,
    settings: IndexSettings,
    progress: bool,
    embedding_cache: str | Path | None,
    source_path: str | Path | None,
    batch_size: int | None,
) -> HybridIndex:
    """See :meth:`HybridIndex.build`: one segment in a temporary folder, removed with the index."""
    encoder = make_encoder(model, progress, batch_size)
    documents = checked_documents(documents)
    content, report, seconds = build_segment_content(
        documents,
        settings,
        encoder,
        Analyzer.from_settings(settings.analyzer),
        progress=progress,
        embedding_cache=embedding_cache,
    )
    temporary = tempfile.TemporaryDirectory(prefix="hybridsearch-")
    directory = Path(temporary.name)
    segment = new_segment(directory, content)
    snapshot = Snapshot(
        [segment], [np.zeros(len(documents), np.bool_)], settings.bm25,
        settings.vectors.ef_search, settings.vectors.ivf_probe,
    )
    info = BuildInfo(
        chunking_report=report,
        seconds=seconds,
        source=corpus_source(documents, source_path),
        model_source=model_source(encoder.identity.name),
    )
    index = cls(
        snapshot,
        directory=directory,
        settings=settings,
        encoder=encoder,
        model_identity=encoder.identity,
        info=info,
    )
    weakref.finalize(index, temporary.cleanup)
    index._temporary = True
    index.embedding_cache = embedding_cache
    return index


def build_segment_content(
    documents: Sequence[Document],
    settings: IndexSettings,
    encoder: Any,
    analyzer: Analyzer,
    *,
    progress: bool = False,
    embedding_cache: str | Path | None = None,
) -> tuple[SegmentContent, ChunkingReport, dict[str, float]]:
    """Run the pipeline over checked documents: chunk, analyse + postings, encode, metadata.

    Returns the segment's content, the chunking report and the seconds per stage.
    """
    from hybridsearch.dense.embedding_cache import encode_passages_cached

    seconds: dict[str, float] = {}
    started = time.perf_counter()
    chunker = Chunker.for_encoder(encoder, settings.chunking)
    passages, report = chunker.chunk(_progress(documents, progress, "chunking", "doc"))
    seconds["chunk"] = time.perf_counter() - started

    started = time.perf_counter()
    texts = [passage.indexed_text for passage in passages]
    if settings.bm25.title_weight == 1:
        passage_tokens = analyzer.analyze_many(_progress(texts, progress, "BM25", "passage"))
    else:  # BM25F: the carried title weighted apart from the body (sparse/fields.py)
        passage_tokens = weighted_passage_tokens(
            analyzer,
            _progress(texts, progress, "BM25", "passage"),
            [passage.title for passage in passages],
            settings.bm25.title_weight,
        )
    postings = Postings.from_tokens(passage_tokens)
    seconds["bm25"] = time.perf_counter() - started

    started = time.perf_counter()
    vectors = encode_passages_cached(encoder, texts, embedding_cache)
    seconds["encode"] = time.perf_counter() - started

    started = time.perf_counter()
    approximate = approximate_index_for(vectors, settings.vectors)
    metadata = MetadataColumns.from_documents([document.metadata for document in documents])
    seconds["vectors"] = time.perf_counter() - started
    content = SegmentContent(
        documents=list(documents),
        passage_columns=SegmentContent.passage_columns_of(list(documents), passages),
        postings=postings,
        vectors=vectors,
        metadata=metadata,
        **approximate,
    )
    return content, report, seconds


def checked_documents(documents: Iterable[Document]) -> list[Document]:
    """The documents as a list, checked: Documents only, unique ids, at least one.

    Raises:
        EmptyCorpusError: no documents.
        DuplicateDocumentError: two documents share an id.
        InvalidInputError: an item is not a Document.
    """
    checked = check_unique_ids(documents)
    if not checked:
        raise EmptyCorpusError("no documents given (an empty corpus cannot be indexed)")
    return checked


def graph_for(vectors: np.ndarray, settings: Any) -> Any:
    """The HNSW graph over a segment's vectors when the vector settings call for one.

    ``hnsw`` always builds one, ``auto`` from :data:`AUTO_HNSW_PASSAGES` passages on (exact
    search below that is fast enough and has perfect recall), ``flat`` never.
    """
    from hybridsearch.dense.vectors import AUTO_HNSW_PASSAGES

    if settings.kind == "flat" or (settings.kind == "auto" and len(vectors) < AUTO_HNSW_PASSAGES):
        return None
    from hybridsearch.dense.segmented import build_hnsw

    return build_hnsw(vectors, settings)


def approximate_index_for(vectors: np.ndarray, settings: Any) -> dict[str, Any]:
    """The segment's approximate index as SegmentContent fields: ``{"hnsw": graph}``,
    ``{"ivf": index}`` (kind ``ivf``: an inverted file, :mod:`hybridsearch.dense.ivf`), or
    ``{}`` (exact search)."""
    if settings.kind == "ivf":
        from hybridsearch.dense.ivf import build_ivf

        return {"ivf": build_ivf(vectors, settings)}
    graph = graph_for(vectors, settings)
    return {} if graph is None else {"hnsw": graph}


def model_source(name: str) -> str:
    """What load() reopens: a local folder as an absolute path, else the name as given."""
    folder = Path(name).expanduser()
    return str(folder.resolve()) if folder.is_dir() else name


def corpus_source(documents: Sequence[Document], path: str | Path | None) -> dict[str, Any]:
    """What the index records of its corpus: fingerprint, document count, and path if any."""
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
