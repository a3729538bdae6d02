"""The coordinator of a sharded search: global statistics, merged leg rankings, then fusion.

A search over shards runs the ordinary :class:`~hybridsearch.search.planner.QueryPlanner`
(plan, deepening, fusion, aggregation, hits) over a :class:`ShardedSource`, which answers the
planner's questions by fanning out to the shards through a :class:`ShardGroup`:

1. **DFS phase**: the live passages and total length of every shard (gathered when the
   coordinator opens, and after each write), and the document frequency of the query's terms
   in every shard, summed; the coordinator computes the idfs once (okapi's floor uses the
   whole vocabulary's, gathered once per snapshot).
2. **Legs**: every shard scores its passages with those global statistics and returns its
   ``depth`` best (:class:`~hybridsearch.index.shard_searcher.Candidates`); the dense leg sends
   the query vector, encoded once here.
3. **Merge**: the shards' lists are merged into one per-leg ranking by (score descending,
   document corpus position, row), cut to ``depth``; only then are they fused and aggregated,
   here, by the planner's own functions.

So a sharded search returns what one index over the same corpus returns: the same documents,
spans, order and scores (the per-leg statistics and scores are the same numbers; ties go by
corpus position, as a single index's go by row). Passage ids differ: a hit's ``passage_id`` is
``row * num_shards + shard``.

A shard that does not answer (its actor died twice) is left out, never silently: the hits
say which shards answered (:class:`ShardedHits`) and a warning is issued.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

import numpy as np

from hybridsearch.errors import HybridSearchError
from hybridsearch.index.settings import IndexSettings
from hybridsearch.index.shard_searcher import Candidates, GlobalTermStatistics, ShardCounts
from hybridsearch.search.filters import Filter, check_filter
from hybridsearch.search.hits import Hits, PassageView
from hybridsearch.search.options import SearchOptions
from hybridsearch.search.planner import QueryPlanner
from hybridsearch.sparse.analysis import Analyzer
from hybridsearch.sparse.variants import VARIANTS

__all__ = [
    "ShardGroup",
    "ShardUnavailableError",
    "ShardedCoordinator",
    "ShardedHits",
    "ShardedSource",
    "merge_candidates",
]


class ShardUnavailableError(HybridSearchError):
    """A shard needed to finish a search (to show a hit's passage) did not answer."""


class ShardGroup(Protocol):
    """The shards a coordinator talks to: in-process, or Ray actors.

    ``call`` sends one method call to every present shard at once (``args_for`` gives
    per-shard arguments where they differ) and returns the answers of the shards that
    answered, by shard number; a shard missing from the answer did not answer even after a
    retry.
    """

    num_shards: int

    def call(
        self, method: str, *args: Any, shards: Sequence[int] | None = None
    ) -> dict[int, Any]: ...


@dataclass(frozen=True)
class _FilterToken:
    """The planner's ``allowed`` for a sharded search: the filter each shard applies itself."""

    filter: Filter


class ShardedHits(Hits):
    """Hits from a sharded search, saying which shards answered.

    Attributes:
        shards_answered: The shards whose candidates are in the results.
        missing_shards: The shards that did not answer (empty when the results are complete).
    """

    shards_answered: tuple[int, ...] = ()
    missing_shards: tuple[int, ...] = ()

    @property
    def complete(self) -> bool:
        """Whether every shard answered."""
        return not self.missing_shards


def merge_candidates(
    answers: Mapping[int, Candidates], depth: int, num_shards: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge shards' candidate lists into one global ranking, cut to ``depth``.

    Order: score descending, then the document's corpus position, then the row (passages of
    one document are in one shard, in row order). Each shard's list is already its best by
    that order, so the merged top ``depth`` is the global top ``depth``.

    Returns:
        (global passage ids ``row * num_shards + shard``, scores, global document keys
        ``document_row * num_shards + shard``), best first.
    """
    parts = [(shard, answer) for shard, answer in sorted(answers.items()) if len(answer.rows)]
    if not parts:
        empty = np.empty(0, np.int64)
        return empty, np.empty(0, np.float64), empty
    shards = np.concatenate([np.full(len(a.rows), s, np.int64) for s, a in parts])
    rows = np.concatenate([a.rows for _, a in parts])
    scores = np.concatenate([a.scores for _, a in parts])
    positions = np.concatenate([a.positions for _, a in parts])
    documents = np.concatenate([a.document_rows for _, a in parts])
    order = np.lexsort((rows, positions, -scores))[:depth]
    return (
        rows[order] * num_shards + shards[order],
        scores[order],
        documents[order] * num_shards + shards[order],
    )


@dataclass(frozen=True)
class ShardOverview:
    """What the coordinator knows of every shard between writes (the DFS phase's totals)."""

    counts: Mapping[int, ShardCounts]

    @property
    def passages(self) -> int:
        return sum(count.passages for count in self.counts.values())

    @property
    def total_length(self) -> int:
        return sum(count.total_length for count in self.counts.values())

    @property
    def field_types(self) -> dict[str, str]:
        types: dict[str, str] = {}
        for count in self.counts.values():
            types.update(count.field_types)
        return types


class ShardedSource:
    """The planner's view of a sharded index (a ``SearchSource``), made per search call.

    Holds, for the call, the document key of every candidate the shards returned and which
    shards failed to answer.
    """

    def __init__(self, coordinator: ShardedCoordinator) -> None:
        self._coordinator = coordinator
        self._group = coordinator.group
        self._document_keys: dict[int, int] = {}
        self._doc_freqs: dict[str, int] = {}
        self.missing: set[int] = set(coordinator.missing_at_open)
        self.num_passages = coordinator.overview.passages
        self.bm25 = _ShardedBM25(self)
        self.vectors = _ShardedVectors(self)

    # -- fan-out with bookkeeping -----------------------------------------------------------

    def fan_out(self, method: str, *args: Any) -> dict[int, Any]:
        """Call every present shard; note those that did not answer."""
        shards = self._coordinator.present_shards
        answers = self._group.call(method, *args, shards=shards)
        self.missing.update(set(shards) - set(answers))
        return answers

    def ranking(self, answers: Mapping[int, Candidates], depth: int) -> tuple[np.ndarray, ...]:
        """The merged ranking, remembering each candidate's document for aggregation."""
        ids, scores, documents = merge_candidates(answers, depth, self._group.num_shards)
        self._document_keys.update(zip(ids.tolist(), documents.tolist(), strict=True))
        return ids, scores

    def doc_freqs(self, terms: Sequence[str]) -> dict[str, int]:
        """The DFS phase for terms: each term's live document frequency over all shards."""
        wanted = [term for term in dict.fromkeys(terms) if term not in self._doc_freqs]
        if wanted:
            totals = dict.fromkeys(wanted, 0)
            for answer in self.fan_out("doc_freqs", wanted).values():
                for term, count in answer.items():
                    totals[term] += count
            self._doc_freqs.update(totals)
        return {term: self._doc_freqs[term] for term in terms}

    # -- SearchSource -----------------------------------------------------------------------

    def allowed(self, flt: Filter) -> tuple[_FilterToken, int]:
        """The filter as each shard applies it, and how many passages pass in all shards."""
        check_filter(flt, self._coordinator.overview.field_types)
        count = sum(self.fan_out("filter_count", flt).values())
        return _FilterToken(flt), count

    def document_rows_of(self, passage_ids: np.ndarray) -> np.ndarray:
        """The global document key of each candidate passage id."""
        return np.array([self._document_keys[int(p)] for p in passage_ids], dtype=np.int64)

    def passage_view(self, passage_id: int) -> PassageView:
        """What a hit shows of a passage, fetched from its shard (id shown: the global id)."""
        shard, row = passage_id % self._group.num_shards, passage_id // self._group.num_shards
        answer = self._group.call("views", [row], shards=[shard])
        if shard not in answer:
            self.missing.add(shard)
            raise ShardUnavailableError(
                f"shard {shard} answered the search but not the request for its passage "
                f"{row}, even after a restart; search again"
            )
        return answer[shard][0]._replace(passage_id=int(passage_id))


class _ShardedBM25:
    """BM25 over all shards with the global statistics (the planner's ``bm25``)."""

    def __init__(self, source: ShardedSource) -> None:
        self._source = source

    def known_terms(self, query_tokens: Sequence[str]) -> list[str]:
        doc_freqs = self._source.doc_freqs(query_tokens)
        return [term for term in dict.fromkeys(query_tokens) if doc_freqs[term] > 0]

    def search(
        self, query_tokens: Sequence[str], k: int, allowed: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        statistics = self._source._coordinator.term_statistics(self._source.doc_freqs(query_tokens))
        flt = None if allowed is None else allowed.filter
        answers = self._source.fan_out("bm25", list(query_tokens), k, statistics, flt)
        return self._source.ranking(answers, k)


class _ShardedVectors:
    """Vector search over all shards (the planner's ``vectors``)."""

    def __init__(self, source: ShardedSource) -> None:
        self._source = source

    def search(
        self, query_vector: np.ndarray, k: int, allowed: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        flt = None if allowed is None else allowed.filter
        answers = self._source.fan_out("dense", np.asarray(query_vector), k, flt)
        return self._source.ranking(answers, k)

    def method(self, allowed_count: int | None = None, *, allowed: Any = None) -> str:
        flt = None if allowed is None else allowed.filter
        coordinator = self._source._coordinator
        if flt is None and coordinator.dense_method is not None:
            return coordinator.dense_method  # the same until a write: no round trip
        methods = sorted(set(self._source.fan_out("dense_method", flt).values()) - {"empty"})
        described = f"{'; '.join(methods) or 'empty'} (per shard)"
        if flt is None:
            coordinator.dense_method = described
        return described


class ShardedCoordinator:
    """Plans and runs searches over a group of shards (see the module docstring).

    Args:
        group: The shards.
        present_shards: The shards that hold an index (a shard no document went to has none).
        settings: The index settings (the same in every shard).
        encoder: The query encoder (the model the shards' vectors were made with).
        model_identity: That model's identity, as the shards record it.
    """

    def __init__(
        self,
        group: ShardGroup,
        present_shards: Sequence[int],
        settings: IndexSettings,
        encoder: Any,
        model_identity: Any,
    ) -> None:
        self.group = group
        self.present_shards = tuple(present_shards)
        self.settings = settings
        self.encoder = encoder
        self.model_identity = model_identity
        self.analyzer = Analyzer.from_settings(settings.analyzer)
        self.refresh()

    def refresh(self) -> None:
        """Gather every shard's counts again (after a write)."""
        counts = self.group.call("counts", shards=self.present_shards)
        self.missing_at_open = tuple(sorted(set(self.present_shards) - set(counts)))
        self.overview = ShardOverview(counts)
        self.dense_method: str | None = None  # the dense leg's method without a filter
        self.__dict__.pop("_vocabulary_idfs", None)

    def term_statistics(self, doc_freqs: Mapping[str, int]) -> GlobalTermStatistics:
        """The global statistics of the query terms: N, total length, dfs, idfs."""
        overview = self.overview
        variant = VARIANTS[self.settings.bm25.variant]
        known = [term for term, count in doc_freqs.items() if count > 0]
        if variant.idf_uses_vocabulary:
            table = self._vocabulary_idfs
            idfs = {term: table[term] for term in known}
        else:
            values = variant.idf(
                np.array([doc_freqs[t] for t in known], np.float64),
                overview.passages,
                self.settings.bm25.params,
            )
            idfs = dict(zip(known, np.asarray(values).tolist(), strict=True))
        return GlobalTermStatistics(overview.passages, overview.total_length, dict(doc_freqs), idfs)

    @cached_property
    def _vocabulary_idfs(self) -> dict[str, float]:
        """Every live term's idf over the whole corpus (okapi's floor takes the mean of all)."""
        totals: dict[str, int] = {}
        answers = self.group.call("vocabulary_doc_freqs", shards=self.present_shards)
        for shard in sorted(answers):
            for term, count in answers[shard].items():
                totals[term] = totals.get(term, 0) + count
        idfs = VARIANTS[self.settings.bm25.variant].idf(
            np.array(list(totals.values()), np.float64),
            self.overview.passages,
            self.settings.bm25.params,
        )
        return dict(zip(totals, np.asarray(idfs).tolist(), strict=True))

    def search_batch(
        self, queries: Sequence[str], k: int, options: Mapping[str, Any]
    ) -> list[ShardedHits]:
        """Search every shard for each query; the hits say which shards answered."""
        search_options = SearchOptions.from_call(k, dict(options))
        source = ShardedSource(self)
        planner = QueryPlanner(
            analyzer=self.analyzer,
            encoder=self.encoder,
            model_identity=self.model_identity,
            source=source,
        )
        plans = [planner.plan(query, search_options) for query in queries]
        results = planner.run(plans)
        answered = tuple(s for s in self.present_shards if s not in source.missing)
        missing = tuple(sorted(source.missing))
        if missing:
            warnings.warn(
                f"shards {list(missing)} did not answer (even after a restart): the results "
                f"hold only shards {list(answered)}",
                RuntimeWarning,
                stacklevel=3,
            )
        return [_sharded_hits(hits, answered, missing) for hits in results]


def _sharded_hits(hits: Hits, answered: tuple[int, ...], missing: tuple[int, ...]) -> ShardedHits:
    result = ShardedHits(
        hits, plan=hits.plan, timings=hits.timings, depth=hits.depth, analyzer=hits.analyzer
    )
    result.shards_answered = answered
    result.missing_shards = missing
    return result
