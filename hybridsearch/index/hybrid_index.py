"""HybridIndex: documents in, ranked passages out.

Building runs the pipeline once (:mod:`hybridsearch.index.building`); searching hands the
query to the index's :class:`~hybridsearch.search.planner.QueryPlanner`, made once with the
index; saving and loading go through :mod:`hybridsearch.index.persistence`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridsearch.corpus.documents import Document
from hybridsearch.dense.identity import model_mismatch_message
from hybridsearch.errors import HybridSearchError, ModelLoadError, ModelMismatchError
from hybridsearch.index.building import BuildInfo, BuiltIndex, build_index, corpus_fingerprint
from hybridsearch.index.passages import PassageTable
from hybridsearch.index.persistence import read_index, read_manifest_parts, write_index
from hybridsearch.index.settings import IndexSettings
from hybridsearch.search.hits import Hits
from hybridsearch.search.options import SearchOptions
from hybridsearch.search.planner import QueryPlanner
from hybridsearch.validation import string_list

if TYPE_CHECKING:
    from hybridsearch.dense.encoder import Encoder
    from hybridsearch.dense.identity import ModelIdentity

__all__ = ["HybridIndex"]


class HybridIndex:
    """A hybrid BM25 + dense index over documents.

    Make one with :meth:`build`, :meth:`load` or :meth:`open_or_build`; query it with
    :meth:`search`.

    Attributes:
        settings: How it was built, per component (chunking, analyzer, bm25, vectors).
        build_info: The chunking report, seconds per stage, and the corpus it came from.
        model_identity: The model the passage vectors were made with.
        origin: How this object came to be (``built``, ``loaded``, ``reused``, ``rebuilt``,
            with the reason), as :meth:`open_or_build` reports it.
    """

    def __init__(
        self,
        parts: BuiltIndex,
        *,
        settings: IndexSettings,
        encoder: Encoder,
        model_identity: ModelIdentity,
        origin: str = "built",
    ) -> None:
        self._parts = parts
        self.settings = settings
        self.build_info: BuildInfo = parts.info
        self.model_identity = model_identity
        self.origin = origin
        self._planner = QueryPlanner(
            analyzer=parts.analyzer,
            bm25=parts.bm25_index,
            vectors=parts.vector_index,
            encoder=encoder,
            model_identity=model_identity,
            passages=parts.passages,
            num_passages=len(parts.passages),
        )
        self._row_of = {document.id: row for row, document in enumerate(parts.passages.documents)}

    # -- making one -------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        documents: Iterable[Document],
        *,
        model: str | Path | Encoder | None = None,
        chunking: Any = None,
        analyzer: Any = None,
        bm25: Any = None,
        vectors: Any = None,
        progress: bool = False,
        embedding_cache: str | Path | None = None,
        source_path: str | Path | None = None,
        batch_size: int | None = None,
    ) -> HybridIndex:
        """Chunk, analyse, index and encode documents.

        Args:
            documents: The corpus (for files, see :func:`hybridsearch.read_corpus`).
            model: An Encoder, a sentence-transformers model folder or hub name, or None for
                the default (all-MiniLM-L6-v2).
            chunking: :class:`~hybridsearch.ChunkingSettings` (or a mapping of its fields).
            analyzer: :class:`~hybridsearch.AnalyzerSettings` (or a mapping of its fields).
            bm25: :class:`~hybridsearch.BM25Settings` (or a mapping of its fields).
            vectors: :class:`~hybridsearch.VectorSettings` (or a mapping of its fields).
            progress: Show a progress bar per stage.
            embedding_cache: A folder where passage vectors are kept, keyed by model identity
                and passage text, so rebuilding an unchanged corpus does not re-encode it.
            source_path: The file or folder the documents were read from, recorded in the
                manifest.
            batch_size: Passages per encoder batch (default: the encoder's, 16 on CPU);
                ignored when ``model`` is an Encoder.

        Raises:
            EmptyCorpusError: no documents.
            DuplicateDocumentError: two documents share an id.
            InvalidInputError: an item is not a Document, or a setting is invalid.
        """
        settings = IndexSettings.coerce(
            chunking=chunking, analyzer=analyzer, bm25=bm25, vectors=vectors
        )
        encoder = _encoder(model, progress, batch_size)
        parts = build_index(
            documents,
            settings,
            encoder,
            progress=progress,
            embedding_cache=embedding_cache,
            source_path=source_path,
        )
        return cls(parts, settings=settings, encoder=encoder, model_identity=encoder.identity)

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
        stored = read_index(path, mmap=mmap, verify_checksums=verify_checksums)
        encoder = _encoder_for(path, model, stored.parts.info.model_source)
        _check_same_model(stored.model_identity, encoder.identity, f"the index at {path}")
        return cls(
            stored.parts,
            settings=stored.settings,
            encoder=encoder,
            model_identity=stored.model_identity,
            origin=f"loaded {path}",
        )

    @classmethod
    def open_or_build(
        cls,
        path: str | Path,
        corpus: str | Path | Iterable[Document],
        *,
        model: str | Path | Encoder | None = None,
        progress: bool = False,
        embedding_cache: str | Path | None = None,
        batch_size: int | None = None,
        rebuild: bool = False,
        **settings: Any,
    ) -> HybridIndex:
        """Reuse the index at ``path`` if it holds this corpus with these settings, else build.

        The corpus is compared by fingerprint (a sha256 of its documents), the settings per
        component, and the model by identity. Otherwise the index is built and saved at
        ``path`` (atomically). :attr:`origin` says which happened and why.

        Args:
            path: The index directory.
            corpus: A corpus path (JSONL, BEIR folder, text folder) or the documents.
            model: As for :meth:`build`.
            progress: Progress bars while building.
            embedding_cache: As for :meth:`build`.
            batch_size: Passages per encoder batch (default: the encoder's, 16 on CPU).
            rebuild: Build even if the index there could be reused.
            **settings: ``chunking``, ``analyzer``, ``bm25``, ``vectors``, as for :meth:`build`.
        """
        from hybridsearch.corpus.readers import read_corpus

        source_path = Path(corpus) if isinstance(corpus, str | Path) else None
        documents = list(read_corpus(source_path) if source_path else corpus)
        wanted = IndexSettings.coerce(**settings)
        encoder = _encoder(model, progress, batch_size)
        reason = "a rebuild was asked for" if rebuild else _reuse_blocker(
            path, documents, wanted, encoder
        )
        if reason is None:
            index = cls.load(path, model=encoder)
            index.origin = f"reused {path}: corpus, settings and model unchanged"
        else:
            index = cls.build(
                documents,
                model=encoder,
                progress=progress,
                embedding_cache=embedding_cache,
                source_path=source_path,
                chunking=wanted.chunking,
                analyzer=wanted.analyzer,
                bm25=wanted.bm25,
                vectors=wanted.vectors,
            )
            index.save(path)
            index.origin = f"built {path}: {reason}"
        return index

    # -- searching --------------------------------------------------------------------------

    def search(self, query: str, k: int = 10, **options: Any) -> Hits:
        """Search the index.

        Args:
            query: The query text. A query longer than the model's limit is truncated for the
                dense leg, with a warning.
            k: Results wanted.
            **options: Any field of :class:`~hybridsearch.SearchOptions`: ``mode``,
                ``fusion``, ``unit``, ``depth``, ``rrf_k``, ``weights``, ``normalization``.

        Returns:
            The hits, best first; ``.plan``, ``.timings`` and ``.depth`` tell how they were
            found. ``search(q, k=10)`` is the first ten of ``search(q, k=50)``.

        Raises:
            InvalidInputError: an empty query, or an unknown or invalid option.
        """
        return self.search_batch([query], k, **options)[0]

    def search_batch(self, queries: Sequence[str], k: int = 10, **options: Any) -> list[Hits]:
        """Search several queries at once (their dense encodings share one batch).

        Takes the same options as :meth:`search`; each query's hits equal its own search's.
        """
        queries = string_list("queries", queries, what="query strings")
        search_options = SearchOptions.from_call(k, options)
        plans = [self._planner.plan(query, search_options) for query in queries]
        return self._planner.run(plans)

    def explain(self, query: str, k: int = 10, **options: Any) -> Hits:
        """Search; the hits' ``describe()`` prints the plan, timings and per-leg ranks."""
        return self.search(query, k, **options)

    # -- facts ------------------------------------------------------------------------------

    @property
    def encoder(self) -> Encoder:
        """The query encoder (must be the model the vectors were made with)."""
        return self._planner.encoder

    @encoder.setter
    def encoder(self, encoder: Encoder) -> None:
        # Checked at the next dense search, which refuses another model's vectors.
        self._planner.encoder = encoder

    @property
    def num_documents(self) -> int:
        """Documents in the index."""
        return len(self._parts.passages.documents)

    @property
    def num_passages(self) -> int:
        """Passages in the index."""
        return len(self._parts.passages)

    @property
    def passages(self) -> PassageTable:
        """The passage table (documents, and per passage its document row and span)."""
        return self._parts.passages

    @property
    def bm25_index(self) -> Any:
        """The BM25 index over the passages (:class:`~hybridsearch.sparse.bm25.BM25Index`)."""
        return self._parts.bm25_index

    @property
    def vector_index(self) -> Any:
        """The passage vectors (:class:`~hybridsearch.dense.vectors.VectorIndex`)."""
        return self._parts.vector_index

    @property
    def analyzer(self) -> Any:
        """The BM25 analyzer (:class:`~hybridsearch.sparse.analysis.Analyzer`)."""
        return self._parts.analyzer

    def document(self, doc_id: str) -> Document:
        """The document with this id (KeyError if absent)."""
        return self._parts.passages.documents[self._row_of[doc_id]]

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
        write_index(path, self._parts, self.settings, self.model_identity)


def _encoder(
    model: str | Path | Encoder | None, progress: bool, batch_size: int | None = None
) -> Encoder:
    """An Encoder passed in as it is (it keeps its own settings), else one made."""
    from hybridsearch.dense.encoder import Encoder

    if isinstance(model, Encoder):
        return model
    if batch_size is None:
        return Encoder(model, progress=progress)
    return Encoder(model, progress=progress, batch_size=batch_size)


def _encoder_for(path: str | Path, model: Any, recorded: str | None) -> Encoder:
    """The encoder to query a loaded index with: the one given, else the recorded model."""
    if model is not None:
        return _encoder(model, progress=False)
    try:
        return _encoder(recorded, progress=False)
    except ModelLoadError as error:
        raise ModelLoadError(
            f"the index at {path} was built with the model {recorded!r}, which cannot be "
            f"loaded here ({error}); pass the model folder (model=..., or --model on the "
            "command line)"
        ) from error


def _check_same_model(expected: Any, found: Any, where: str) -> None:
    if not found.same_model_as(expected):
        raise ModelMismatchError(model_mismatch_message(expected, found, where, "the model given"))


def _reuse_blocker(
    path: str | Path, documents: list[Document], wanted: IndexSettings, encoder: Encoder
) -> str | None:
    """Why the index at ``path`` cannot serve this corpus and settings, or None if it can."""
    try:
        _, settings, identity, info = read_manifest_parts(Path(path), verify_checksums=False)
    except HybridSearchError as error:
        return f"no usable index there ({error})"
    if info.source.get("fingerprint") != corpus_fingerprint(documents):
        return "the corpus changed"
    if settings != wanted:
        return "settings changed (" + "; ".join(wanted.differences(settings)) + ")"
    if not encoder.identity.same_model_as(identity):
        return f"the model changed ({identity.describe()} -> {encoder.identity.describe()})"
    return None
