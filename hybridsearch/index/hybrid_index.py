"""HybridIndex: documents in, ranked passages out; a living index of immutable segments.

Reads go through a :class:`~hybridsearch.index.snapshot.Snapshot` and the query planner made
for it; writes (add, update, delete, merges) make a new snapshot and swap it in, so a search
sees the index before or after a write, never a mix. ``commit()`` makes the writes durable
(:mod:`hybridsearch.index.commit`).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hybridsearch.corpus.documents import Document, Passage
from hybridsearch.index import building, opening, reuse
from hybridsearch.index.building import BuildInfo
from hybridsearch.index.commit import Commit, WriteLock
from hybridsearch.index.query_pairing import pairing_fields, query_model_of
from hybridsearch.index.settings import IndexSettings
from hybridsearch.index.snapshot import Snapshot
from hybridsearch.index.tuning import Tuning
from hybridsearch.index.updates import Updates
from hybridsearch.index.writer import write_new_index
from hybridsearch.search.hits import Hits
from hybridsearch.search.options import SearchOptions
from hybridsearch.search.planner import QueryPlanner
from hybridsearch.search.tuned import TunedFusion
from hybridsearch.sparse.analysis import Analyzer
from hybridsearch.validation import string_list

if TYPE_CHECKING:
    from hybridsearch.dense.encoder import Encoder

__all__ = ["HybridIndex"]


class HybridIndex(Updates, Tuning):
    """A hybrid BM25 + dense index over documents.

    Make one with :meth:`build`, :meth:`load` (read-only), :meth:`open` (read and write) or
    :meth:`open_or_build`; query it with :meth:`search`; change it with :meth:`add`,
    :meth:`update`, :meth:`delete` and :meth:`commit`; fit its default fusion on labelled
    queries with :meth:`tune`.

    Attributes:
        settings: How it is built, per component (chunking, analyzer, bm25, vectors).
        build_info: The chunking report, seconds per stage, and the corpus it came from.
        model_identity: The model the passage vectors were made with.
        query_model_identity: The query model paired with those vectors (trained on the query
            side only), or None when queries are encoded by the passage model.
        origin: How this object came to be (``built``, ``loaded``, ``opened``, ``reused``).
        embedding_cache: The passage-vector cache folder adds and updates use, or None.
    """

    embedding_cache: str | Path | None = None

    def __init__(
        self,
        snapshot: Snapshot,
        *,
        directory: Path,
        settings: IndexSettings,
        encoder: Encoder,
        model_identity: Any,
        info: BuildInfo,
        commit: Commit | None = None,
        lock: WriteLock | None = None,
        origin: str = "built",
        tuned: TunedFusion | None = None,
        query_model: tuple[Any, str | None] = (None, None),
    ) -> None:
        self.directory = directory
        self.settings = settings
        self.model_identity = model_identity
        self.query_model_identity, self.query_model_source = query_model
        self.build_info = info
        self.origin = origin
        self.analyzer = Analyzer.from_settings(settings.analyzer)
        self._encoder = encoder
        self._commit = commit
        self._lock = lock
        self._write_lock = threading.Lock()
        self._tuned = tuned
        self._verification: Any = None  # a BackgroundVerification, after load(..."background")
        self._view = self._make_view(snapshot)

    def _make_view(self, snapshot: Snapshot) -> tuple[Snapshot, QueryPlanner]:
        planner = QueryPlanner(
            analyzer=self.analyzer,
            encoder=self._encoder,
            model_identity=self.model_identity,
            source=snapshot,
            tuned=self._tuned,
            query_identity=self.query_model_identity,
        )
        return snapshot, planner

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
        """Chunk, analyse, index and encode documents, into an index held in a temporary folder.

        ``save(path)`` writes it to disk; it can be searched, and changed, before that.

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
            source_path: The file or folder the documents were read from, recorded.
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
        return building.build_in_memory(
            cls, documents, model=model, settings=settings, progress=progress,
            embedding_cache=embedding_cache, source_path=source_path, batch_size=batch_size,
        )

    @classmethod
    def load(
        cls,
        path: str | Path,
        *,
        model: str | Path | Encoder | None = None,
        mmap: bool = True,
        verify_checksums: bool | str = True,
        warm_up: bool = True,
    ) -> HybridIndex:
        """Open the newest commit of an index for reading (writes need :meth:`open`).

        A load never writes to the index and reads one commit point (settings, model and
        segments together), whatever other processes save or commit meanwhile.

        Args:
            path: The index directory.
            model: The encoder to query with: an Encoder, a model folder or hub name, or None
                for the model the index was built with.
            mmap: Memory-map the arrays instead of reading them.
            verify_checksums: Check every file's sha256 (its size is always checked).
                ``"background"``: return once the structural checks pass and hash the files
                in a background thread (:mod:`hybridsearch.index.verification`); a search
                after a mismatch is found raises ChecksumError, and
                :meth:`wait_for_verification` waits for the verdict.
            warm_up: Warm the query encoder in a background thread (one tiny encode), so the
                first search does not pay the model's one-off set-up (~0.2-0.6 s on a CPU).
                Load returns without waiting for it; a search that comes sooner waits and
                says so in its timings (``warm-up wait``). False leaves the encoder cold.

        Raises:
            IndexFormatError: not an index, or a file is missing or unreadable.
            IndexVersionError: written by another format version.
            ChecksumError: a file was truncated or altered.
            ModelMismatchError: ``model`` is not the model the index was built with.
        """
        return opening.load_index(
            cls, path, model=model, mmap=mmap, verify_checksums=verify_checksums, warm_up=warm_up
        )

    def wait_for_verification(self, timeout: float | None = None) -> bool:
        """Wait for a background checksum verification (``load(verify_checksums=
        "background")``); True once every file matched (at once if none is running).

        Returns:
            False if it is still running after ``timeout`` seconds.

        Raises:
            ChecksumError: a file's sha256 differs from the recorded one.
        """
        return True if self._verification is None else self._verification.wait(timeout)

    @classmethod
    def open(
        cls,
        path: str | Path,
        *,
        model: str | Path | Encoder | None = None,
        embedding_cache: str | Path | None = None,
        batch_size: int | None = None,
        warm_up: bool = True,
    ) -> HybridIndex:
        """Open an index for reading and writing; one writer at a time.

        ``embedding_cache`` is the passage-vector cache adds and updates use, and
        ``batch_size`` the encoder's batch size for them (see :meth:`build`); ``warm_up`` as
        for :meth:`load`. Close the index (or use it in a ``with`` block) to release the lock.

        Raises:
            IndexLockedError: another writer has it open (a crashed one does not count).
            IndexFormatError, ChecksumError, ModelMismatchError: as for :meth:`load`.
        """
        return opening.open_index(
            cls, path, model=model, embedding_cache=embedding_cache, batch_size=batch_size,
            warm_up=warm_up,
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
        return reuse.open_or_build(
            cls, path, corpus, model=model, progress=progress, embedding_cache=embedding_cache,
            batch_size=batch_size, rebuild=rebuild, settings=settings,
        )

    # -- searching --------------------------------------------------------------------------

    def search(self, query: str, k: int = 10, **options: Any) -> Hits:
        """Search the index.

        Args:
            query: The query text. A query longer than the model's limit is truncated for the
                dense leg, with a warning.
            k: Results wanted.
            **options: Any field of :class:`~hybridsearch.SearchOptions`: ``mode``,
                ``fusion``, ``unit``, ``depth``, ``rrf_k``, ``weights``, ``normalization``,
                ``filter``. The fusion options default to the tuned fusion (:meth:`tune`)
                when the index has one and none of them is given.

        Returns:
            The hits, best first; ``.plan``, ``.timings`` and ``.depth`` tell how they were
            found. ``search(q, k=10)`` is the first ten of ``search(q, k=50)``.

        Raises:
            InvalidInputError: an empty query, or an unknown or invalid option.
        """
        return self.search_batch([query], k, **options)[0]

    def search_batch(self, queries: Sequence[str], k: int = 10, **options: Any) -> list[Hits]:
        """Search several queries at once (their dense encodings share one batch).

        Takes the same options as :meth:`search`; each query's hits equal its own search's,
        bit for bit (the encoder gives each query the vector it gets alone).
        """
        return list(self.search_each(queries, k, **options))

    def search_each(self, queries: Sequence[str], k: int = 10, **options: Any) -> Iterator[Hits]:
        """:meth:`search_batch`, yielding each query's hits as soon as its legs have run.

        Every query is planned and encoded first (one snapshot, one encode batch), so bad
        input raises before the first hits; then each query's legs run when the next hits
        are asked for. A server sends one response on while the next query's legs run.
        """
        queries = string_list("queries", queries, what="query strings")
        if self._verification is not None:
            self._verification.check()  # a file found altered in the background: say so
        search_options = SearchOptions.from_call(k, self._with_defaults(options))
        _, planner = self._view  # one snapshot for the whole batch
        plans = [planner.plan(query, search_options) for query in queries]
        # A search right after load waits for the encoder's warm-up; its timings say how long,
        # apart from the query's own (which stay what a warm search costs). An encoder of the
        # caller's (a wrapper, a test double) need not have a warm-up.
        wait_for_warm_up = getattr(self._encoder, "wait_for_warm_up", None)
        waited_ms = wait_for_warm_up() if wait_for_warm_up is not None else 0.0
        for hits in planner.run_each(plans):
            if waited_ms:
                hits.timings = {"warm-up wait": waited_ms, **hits.timings}
            yield hits

    def explain(self, query: str, k: int = 10, **options: Any) -> Hits:
        """Search; the hits' ``describe()`` prints the plan, timings and per-leg ranks."""
        return self.search(query, k, **options)

    # -- facts ------------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        """The current snapshot (segments and deletes) searches read."""
        return self._view[0]

    @property
    def encoder(self) -> Encoder:
        """The query encoder (must be the model the vectors were made with)."""
        return self._encoder

    @encoder.setter
    def encoder(self, encoder: Encoder) -> None:
        # Checked at the next dense search, which refuses another model's vectors.
        self._encoder = encoder
        self._view = self._make_view(self._view[0])

    def pair_query_model(self, encoder: Encoder) -> None:
        """Query with ``encoder``, a model trained against this index's passage vectors.

        The pairing is recorded by the next :meth:`save`; a loaded copy then accepts that query
        model (and the passage model) and refuses any other (``ModelMismatchError``).
        """
        self.query_model_identity, self.query_model_source = query_model_of(encoder)
        self.encoder = encoder

    @property
    def num_documents(self) -> int:
        """Live documents."""
        return self.snapshot.num_documents

    @property
    def num_passages(self) -> int:
        """Live passages."""
        return self.snapshot.num_passages

    @property
    def commit_point(self) -> Commit | None:
        """The commit this index was opened at or last made: its segments and their live
        counts (None for an index built in memory and never committed)."""
        return self._commit

    @property
    def generation(self) -> int | None:
        """The generation of :attr:`commit_point` (None if there is none)."""
        return self._commit.generation if self._commit is not None else None

    @property
    def num_segments(self) -> int:
        """Segments in the current snapshot."""
        return len(self.snapshot.segments)

    def document(self, doc_id: str) -> Document:
        """The live document with this id (KeyError if there is none)."""
        snapshot = self.snapshot
        (where,) = snapshot.find([doc_id])
        if where is None:
            raise KeyError(doc_id)
        number, row = where
        return snapshot.segments[number].documents.get(row)

    def documents(self) -> Iterator[Document]:
        """The live documents, in index order (read one at a time)."""
        return self.snapshot.documents()

    def passage(self, passage_id: int) -> Passage:
        """The live passage with this id (as hits number them), its indexed text included."""
        return self.snapshot.passage(passage_id)

    def __repr__(self) -> str:
        return (
            f"HybridIndex({self.num_documents} documents, {self.num_passages} passages, "
            f"{self.num_segments} segments, model {self.model_identity.describe()})"
        )

    # -- persistence ------------------------------------------------------------------------

    def save(self, path: str | Path) -> None:
        """Write the index as it stands (uncommitted changes included) to ``path``.

        Where there is no index, a new directory is written beside ``path`` and renamed into
        place. Over an existing index the save is a commit under that index's write lock:
        its segments are copied in and one commit file names them, so a reader (in any
        process) loads the previous version or this one, never a mix; a crash leaves the
        previous version. A file, or a non-empty directory that is not an index, is refused.

        Raises:
            IndexLockedError: another writer holds the index at ``path`` (an index opened
                with :meth:`open`, or another process saving there): one writer at a time.
            IndexFormatError: ``path`` is a file or a directory that is not an index.
            IndexVersionError: ``path`` holds an index a newer hybridsearch wrote (it is left
                as it is; an older version's is replaced).
            IndexWriteError: writing failed (a full disk...); the last commit is intact.
        """
        manifest = {
            "model": self.model_identity.to_dict(),
            "model_source": self.build_info.model_source,
            "settings": self.settings.to_dict(),
            **pairing_fields(self.query_model_identity, self.query_model_source),
        }
        write_new_index(
            path, self.snapshot, manifest, self.build_info.to_dict(), self.search_defaults_data()
        )

    def close(self) -> None:
        """Release the write lock (uncommitted changes are dropped)."""
        if self._lock is not None:
            self._lock.release()

    def __enter__(self) -> HybridIndex:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
