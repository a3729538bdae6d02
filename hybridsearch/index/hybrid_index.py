"""HybridIndex: documents in, ranked passages out.

Building runs the pipeline once: chunk the documents into passages that fit the model, index
the passages with BM25 (through the analyzer) and, side by side, encode them into a FAISS
index. Searching hands the query to the :class:`~hybridsearch.search.planner.QueryPlanner`.

On disk an index is a directory (see :mod:`hybridsearch.index.storage`)::

    manifest.json        format version, model identity, settings, counts, sha256 per file
    documents.jsonl      the documents as given (id, title, text, metadata)
    passages/*.npy       per passage: its document's row, and its span in the document text
    bm25/                the BM25 arrays and vocabulary
    vectors.faiss        the FAISS index, ids = passage ids

Passage texts are not stored: each is its document's text over the span, after the title
when the title was carried, so the store cannot disagree with the documents. Passage ids
are rows, and documents keep their text, so a later version can add, delete and update
documents with exact global BM25 statistics without rebuilding from the source files.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from hybridsearch.index import storage
from hybridsearch.sparse.analysis import Analyzer
from hybridsearch.sparse.bm25 import BM25Index
from hybridsearch.corpus.chunking import TITLE_SEPARATOR, Chunker, ChunkingConfig, ChunkingReport
from hybridsearch.corpus.documents import Document, Passage, check_unique_ids
from hybridsearch.errors import (
    EmptyCorpusError,
    IndexFormatError,
    InvalidInputError,
    ModelLoadError,
    ModelMismatchError,
)
from hybridsearch.search.planner import DEFAULT_RRF_K, Plan, QueryPlanner, model_mismatch_message
from hybridsearch.search.hits import Hits

if TYPE_CHECKING:
    from hybridsearch.dense.encoder import Encoder, ModelIdentity
    from hybridsearch.dense.vectors import VectorIndex

_DOCUMENTS_FILE = "documents.jsonl"
_PASSAGES_DIR = "passages"
_BM25_DIR = "bm25"
_VECTORS_FILE = "vectors.faiss"


@dataclass(frozen=True)
class BM25Settings:
    """BM25 scoring settings (see :class:`~hybridsearch.sparse.bm25.BM25Index`)."""

    variant: str = "lucene"
    k1: float = 1.5
    b: float = 0.75
    delta: float | None = None


@dataclass(frozen=True)
class VectorSettings:
    """FAISS index settings (see :class:`~hybridsearch.dense.vectors.VectorIndex`)."""

    kind: str = "flat"
    hnsw_m: int = 32
    ef_construction: int = 200
    ef_search: int = 128


@dataclass(frozen=True)
class Explanation:
    """A search with its plan and where the time went (from :meth:`HybridIndex.explain`)."""

    hits: Hits

    @property
    def plan(self) -> Plan:
        """The plan that was run."""
        return self.hits.plan

    @property
    def timings(self) -> Mapping[str, float]:
        """Milliseconds per stage."""
        return self.hits.timings

    def describe(self) -> str:
        """The plan, the timings and the hits' per-leg breakdown as readable lines."""
        lines = [self.plan.describe(), self.hits.describe_timings()]
        for hit in self.hits:
            lines.append(
                f"{hit.rank:>3}. {hit.doc_id}  score {hit.score:.4f}  "
                f"bm25 rank {_or_dash(hit.bm25_rank)} score {_or_dash(hit.bm25_score)}  "
                f"dense rank {_or_dash(hit.dense_rank)} score {_or_dash(hit.dense_score)}"
            )
        return "\n".join(lines)


def _or_dash(value: float | int | None) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def _settings(kind: type, value: Any, name: str) -> Any:
    """Accept a settings dataclass, a mapping of its fields, or None (the defaults)."""
    if value is None:
        return kind()
    if isinstance(value, kind):
        return value
    if isinstance(value, Mapping):
        try:
            return kind(**value)
        except TypeError as error:
            raise InvalidInputError(f"{name}: {error}") from error
    raise InvalidInputError(
        f"{name} must be a {kind.__name__}, a mapping of its fields, or None; got "
        f"{type(value).__name__}"
    )


class HybridIndex:
    """A hybrid BM25 + dense index over documents.

    Make one with :meth:`build` or :meth:`load`; query it with :meth:`search`.
    """

    def __init__(
        self,
        *,
        documents: Sequence[Document],
        passages: Sequence[Passage],
        analyzer: Analyzer,
        bm25: BM25Index,
        encoder: Encoder,
        vectors: VectorIndex,
        model_identity: ModelIdentity,
        chunking: ChunkingConfig,
        bm25_settings: BM25Settings,
        vector_settings: VectorSettings,
        chunking_report: ChunkingReport,
        build_seconds: Mapping[str, float] | None = None,
        model_source: str | None = None,
        source: Mapping[str, Any] | None = None,
    ) -> None:
        self.documents = list(documents)
        self.passages = list(passages)
        self.analyzer = analyzer
        self.bm25 = bm25
        self.encoder = encoder
        self.vectors = vectors
        self.model_identity = model_identity
        self.chunking = chunking
        self.bm25_settings = bm25_settings
        self.vector_settings = vector_settings
        self.chunking_report = chunking_report
        self.build_seconds = dict(build_seconds or {})
        self.model_source = model_source
        # Where the corpus came from (e.g. a path and its sha256), recorded in the manifest
        # so a caller can tell whether an index is up to date with its corpus.
        self.source = dict(source) if source else None
        self._documents_by_id = {document.id: document for document in self.documents}

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        documents: Iterable[Document],
        *,
        model: str | Path | Encoder | None = None,
        chunking: ChunkingConfig | Mapping[str, Any] | None = None,
        analyzer: Analyzer | None = None,
        bm25: BM25Settings | Mapping[str, Any] | None = None,
        vectors: VectorSettings | Mapping[str, Any] | None = None,
        progress: bool = False,
        embedding_cache: str | Path | None = None,
    ) -> HybridIndex:
        """Chunk, analyse, index and encode documents.

        Args:
            documents: The corpus (for files, see :func:`hybridsearch.read_corpus`).
            model: An :class:`~hybridsearch.dense.encoder.Encoder`, a sentence-transformers model
                folder or hub name, or None for the default (all-MiniLM-L6-v2).
            chunking: Passage length, overlap, title handling.
            analyzer: The BM25 analyzer (default: lowercase, English stopwords, Snowball).
            bm25: BM25 variant and parameters.
            vectors: FAISS index kind (``flat`` exact, or ``hnsw``) and its parameters.
            progress: Show a progress bar per stage.
            embedding_cache: A folder where passage vectors are kept, keyed by model identity
                and passage text, so rebuilding an unchanged corpus does not re-encode it.

        Raises:
            EmptyCorpusError: no documents.
            DuplicateDocumentError: two documents share an id.
            InvalidInputError: an item is not a Document, or a setting is invalid.
        """
        from hybridsearch.dense.encoder import Encoder
        from hybridsearch.dense.vectors import VectorIndex

        chunking_config = _settings(ChunkingConfig, chunking, "chunking")
        bm25_settings = _settings(BM25Settings, bm25, "bm25")
        vector_settings = _settings(VectorSettings, vectors, "vectors")
        seconds: dict[str, float] = {}

        started = time.perf_counter()
        documents = check_unique_ids(documents)
        if not documents:
            raise EmptyCorpusError("cannot build an index from an empty corpus (no documents)")
        seconds["read"] = time.perf_counter() - started

        # An Encoder passed in keeps its own progress setting.
        encoder = model if isinstance(model, Encoder) else Encoder(model, progress=progress)
        # Made before the slow stages so a bad setting fails in seconds, not after encoding.
        vector_index = VectorIndex(
            encoder.dimension,
            kind=vector_settings.kind,
            hnsw_m=vector_settings.hnsw_m,
            ef_construction=vector_settings.ef_construction,
            ef_search=vector_settings.ef_search,
        )

        started = time.perf_counter()
        chunker = Chunker.for_encoder(encoder, chunking_config)
        passages, report = chunker.chunk(_progress(documents, progress, "chunking", "doc"))
        seconds["chunk"] = time.perf_counter() - started

        started = time.perf_counter()
        analyzer = analyzer or Analyzer()
        texts = [passage.text for passage in passages]
        passage_tokens = analyzer.analyze_many(_progress(texts, progress, "BM25", "passage"))
        bm25_index = BM25Index.build(
            passage_tokens,
            variant=bm25_settings.variant,
            k1=bm25_settings.k1,
            b=bm25_settings.b,
            delta=bm25_settings.delta,
        )
        seconds["bm25"] = time.perf_counter() - started

        started = time.perf_counter()
        passage_vectors = _encode_passages(encoder, texts, embedding_cache)
        seconds["encode"] = time.perf_counter() - started

        started = time.perf_counter()
        vector_index.add(passage_vectors, np.arange(len(passages), dtype=np.int64))
        seconds["faiss"] = time.perf_counter() - started

        return cls(
            documents=documents,
            passages=passages,
            analyzer=analyzer,
            bm25=bm25_index,
            encoder=encoder,
            vectors=vector_index,
            model_identity=encoder.identity,
            chunking=chunking_config,
            bm25_settings=bm25_settings,
            vector_settings=vector_settings,
            chunking_report=report,
            build_seconds=seconds,
            model_source=_model_source(encoder.identity.name),
        )

    # -- searching --------------------------------------------------------------------------

    @property
    def planner(self) -> QueryPlanner:
        """The query planner over this index's legs."""
        return QueryPlanner(
            analyzer=self.analyzer,
            bm25=self.bm25,
            encoder=self.encoder,
            vectors=self.vectors,
            passages=self.passages,
            documents=self._documents_by_id,
            model_identity=self.model_identity,
        )

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        mode: str = "hybrid",
        fusion: str = "rrf",
        unit: str = "documents",
        depth: int | None = None,
        rrf_k: float = DEFAULT_RRF_K,
        weights: Mapping[str, float] | None = None,
        normalization: str = "minmax",
    ) -> Hits:
        """Search the index.

        Args:
            query: The query text. A query longer than the model's limit is truncated for the
                dense leg, with a warning.
            k: Results wanted.
            mode: ``hybrid`` (both legs, fused), ``bm25`` or ``dense``.
            fusion: ``rrf`` (reciprocal rank fusion) or ``convex`` (weighted sum of
                normalised scores).
            unit: ``documents`` (each document once, its best passage shown) or ``passages``.
            depth: Candidate passages per leg (default ``max(100, 10 * k)``).
            rrf_k: RRF's rank constant.
            weights: Weight per leg, e.g. ``{"bm25": 1.0, "dense": 2.0}`` (default 1 each).
            normalization: For convex fusion: ``minmax`` or ``zscore``.

        Returns:
            The hits, best first; ``.plan`` and ``.timings`` tell how they were found.
        """
        options = dict(
            k=k,
            mode=mode,
            fusion=fusion,
            unit=unit,
            depth=depth,
            rrf_k=rrf_k,
            weights=weights,
            normalization=normalization,
        )
        planner = self.planner
        return planner.run(planner.plan(query, **options))

    def search_batch(self, queries: Sequence[str], k: int = 10, **options: Any) -> list[Hits]:
        """Search several queries at once (their dense encodings share batches).

        Takes the same options as :meth:`search`.
        """
        if isinstance(queries, str) or not isinstance(queries, Sequence):
            raise InvalidInputError(
                f"queries must be a sequence of strings, got {type(queries).__name__}"
            )
        planner = self.planner
        plans = [planner.plan(query, k=k, **options) for query in queries]
        return planner.run_batch(plans)

    def explain(self, query: str, k: int = 10, **options: Any) -> Explanation:
        """Search, and return the plan and timings with the hits (same options as search)."""
        hits = self.search(query, k, **options)
        return Explanation(hits)

    # -- facts ------------------------------------------------------------------------------

    @property
    def num_documents(self) -> int:
        """Documents in the index."""
        return len(self.documents)

    @property
    def num_passages(self) -> int:
        """Passages in the index."""
        return len(self.passages)

    def document(self, doc_id: str) -> Document:
        """The document with this id (KeyError if absent)."""
        return self._documents_by_id[doc_id]

    def __repr__(self) -> str:
        return (
            f"HybridIndex({self.num_documents} documents, {self.num_passages} passages, "
            f"model {self.model_identity.describe()})"
        )

    # -- persistence ------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the index to a directory, atomically (see :mod:`hybridsearch.index.storage`).

        An existing index at ``path`` is replaced only once the new one is complete; any
        other non-empty directory is refused.
        """
        document_rows = {document.id: row for row, document in enumerate(self.documents)}

        def write_files(directory: Path) -> None:
            with open(directory / _DOCUMENTS_FILE, "w", encoding="utf-8") as handle:
                for document in self.documents:
                    record = {
                        "id": document.id,
                        "title": document.title,
                        "text": document.text,
                        "metadata": dict(document.metadata),
                    }
                    handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            passages_dir = directory / _PASSAGES_DIR
            passages_dir.mkdir()
            columns = {
                "document_rows": [document_rows[p.doc_id] for p in self.passages],
                "starts": [p.start for p in self.passages],
                "ends": [p.end for p in self.passages],
                "title_carried": [bool(p.title) for p in self.passages],
            }
            for name, values in columns.items():
                dtype = bool if name == "title_carried" else np.int64
                np.save(passages_dir / f"{name}.npy", np.asarray(values, dtype=dtype))
            self.bm25.save(directory / _BM25_DIR)
            self.vectors.save(directory / _VECTORS_FILE)

        manifest = {
            "model": self.model_identity.to_dict(),
            "model_source": self.model_source,
            "analyzer": self.analyzer.to_config(),
            "bm25": vars(self.bm25_settings),
            "vectors": vars(self.vector_settings),
            "chunking": self.chunking.to_dict(),
            "counts": {"documents": self.num_documents, "passages": self.num_passages},
            "chunking_report": self.chunking_report.to_dict(),
            "build_seconds": self.build_seconds,
            "source": self.source,
        }
        storage.write_index_directory(path, write_files, manifest)

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        model: str | Path | Encoder | None = None,
        mmap: bool = True,
        verify_checksums: bool = True,
    ) -> HybridIndex:
        """Load an index saved by :meth:`save`.

        Args:
            path: The index directory.
            model: The encoder to query with: an Encoder, a model folder or hub name, or None
                for the model the index was built with.
            mmap: Memory-map the BM25 arrays instead of reading them.
            verify_checksums: Check every file against the manifest's sha256.

        Raises:
            IndexFormatError: not an index, or a file is missing or unreadable.
            IndexVersionError: written by another format version.
            ChecksumError: a file was truncated or altered.
            ModelMismatchError: ``model`` is not the model the index was built with.
        """
        from hybridsearch.dense.encoder import Encoder, ModelIdentity
        from hybridsearch.dense.vectors import VectorIndex

        directory = Path(path)
        manifest = storage.read_manifest(directory, verify_checksums=verify_checksums)
        try:
            model_identity = ModelIdentity.from_dict(manifest["model"])
            analyzer = Analyzer.from_config(manifest["analyzer"])
            chunking = ChunkingConfig.from_dict(manifest["chunking"])
            bm25_settings = BM25Settings(**manifest["bm25"])
            vector_settings = VectorSettings(**manifest["vectors"])
            report = ChunkingReport(**manifest["chunking_report"])
        except (KeyError, TypeError, ValueError) as error:
            raise IndexFormatError(
                f"{directory / storage.MANIFEST_NAME}: a setting is missing or malformed ({error})"
            ) from error

        if isinstance(model, Encoder):
            encoder = model
        elif model is not None:
            encoder = Encoder(model)
        else:
            recorded = manifest.get("model_source")
            try:
                encoder = Encoder(recorded)
            except ModelLoadError as error:
                raise ModelLoadError(
                    f"the index at {directory} was built with the model {recorded!r}, which "
                    f"cannot be loaded here ({error}); pass the model folder (model=..., or "
                    "--model on the command line)"
                ) from error
        if not encoder.identity.same_model_as(model_identity):
            raise ModelMismatchError(
                model_mismatch_message(
                    model_identity, encoder.identity, f"the index at {directory}", "the model given"
                )
            )

        documents = _read_documents(directory / _DOCUMENTS_FILE)
        passages = _read_passages(directory / _PASSAGES_DIR, documents)
        bm25_index = BM25Index.load(directory / _BM25_DIR, mmap=mmap)
        vector_index = VectorIndex.load(
            directory / _VECTORS_FILE, dimension=model_identity.dimension
        )
        counts = manifest.get("counts", {})
        found = {"documents": len(documents), "passages": len(passages)}
        if (
            counts != found
            or bm25_index.num_passages != len(passages)
            or len(vector_index) != len(passages)
        ):
            raise IndexFormatError(
                f"{directory}: the manifest counts {counts}, but the files hold {found}, "
                f"{bm25_index.num_passages} BM25 passages and {len(vector_index)} vectors"
            )
        return cls(
            documents=documents,
            passages=passages,
            analyzer=analyzer,
            bm25=bm25_index,
            encoder=encoder,
            vectors=vector_index,
            model_identity=model_identity,
            chunking=chunking,
            bm25_settings=bm25_settings,
            vector_settings=vector_settings,
            chunking_report=report,
            build_seconds=manifest.get("build_seconds"),
            model_source=manifest.get("model_source"),
            source=manifest.get("source"),
        )


def _model_source(name: str) -> str:
    """What load() reopens: a local folder as an absolute path, else the name as given."""
    folder = Path(name).expanduser()
    return str(folder.resolve()) if folder.is_dir() else name


def _read_documents(path: Path) -> list[Document]:
    documents = []
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, start=1):
            try:
                record = json.loads(line)
                documents.append(
                    Document(
                        id=record["id"],
                        text=record["text"],
                        title=record["title"],
                        metadata=record["metadata"],
                    )
                )
            except (json.JSONDecodeError, KeyError, TypeError, InvalidInputError) as error:
                raise IndexFormatError(f"{path}:{line_number}: malformed record ({error})") from (
                    error
                )
    return documents


def _read_passages(directory: Path, documents: Sequence[Document]) -> list[Passage]:
    columns = {}
    for name in ("document_rows", "starts", "ends", "title_carried"):
        try:
            columns[name] = np.load(directory / f"{name}.npy", allow_pickle=False).tolist()
        except (OSError, ValueError) as error:
            raise IndexFormatError(f"{directory / name}.npy: unreadable ({error})") from error
    passages = []
    for passage_id, (row, start, end, title_carried) in enumerate(
        zip(*columns.values(), strict=True)
    ):
        document = documents[row]
        title = document.title if title_carried else ""
        prefix = title + TITLE_SEPARATOR if title else ""
        passages.append(
            Passage(
                passage_id=passage_id,
                doc_id=document.id,
                text=prefix + document.text[start:end],
                start=start,
                end=end,
                title=title,
            )
        )
    return passages


def _progress(items: Sequence[Any], enabled: bool, stage: str, unit: str) -> Iterable[Any]:
    if not enabled:
        return items
    from tqdm.auto import tqdm

    return tqdm(items, desc=stage, unit=unit)


def _encode_passages(
    encoder: Encoder, texts: Sequence[str], cache_dir: str | Path | None
) -> np.ndarray:
    """Encode passages, reusing vectors from ``cache_dir`` for texts already encoded.

    The cache is keyed by the model identity (weights, pooling, prompts) and each passage
    text's sha256, so a changed model or text is never served a stale vector.
    """
    if cache_dir is None:
        return encoder.encode_passages(texts)
    from hybridsearch.dense.embedding_cache import EmbeddingCache

    cache = EmbeddingCache(cache_dir, encoder.identity)
    vectors, missing = cache.lookup(texts)
    if missing:
        encoded = encoder.encode_passages([texts[row] for row in missing])
        vectors[missing] = encoded
        cache.store([texts[row] for row in missing], encoded)
    return vectors
