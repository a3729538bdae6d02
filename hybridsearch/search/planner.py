"""QueryPlanner: from a query and options to a :class:`Plan`, and from a plan to hits.

The query path, top to bottom (each step a small function in its own module):

1. :meth:`QueryPlanner.plan`: the options were checked once when the
   :class:`~hybridsearch.search.options.SearchOptions` was made; the planner analyses the query
   for BM25 and decides which legs run (a hybrid query none of whose terms BM25 knows runs
   dense-only), how deep, how the lists are fused, the result unit, and the deepening rule.
2. :meth:`QueryPlanner.run`: encodes the dense queries of all plans in one batch, then per
   plan: the legs (:mod:`~hybridsearch.search.legs`) -> fusion
   (:func:`hybridsearch.search.fusion.fuse`) -> aggregation to the result unit
   (:mod:`~hybridsearch.search.aggregation`), deepening only as the plan says, -> the first
   ``k`` as hits (:func:`~hybridsearch.search.hits.make_hit`).

Fusing passages before aggregating them into documents follows the pipeline both legs share
(they index passages) and measured better than aggregating each leg first: on scifact, RRF
nDCG@10 0.712 against 0.705.

Ties: each leg orders equal scores by passage id; fusion orders equal fused scores by the best
rank the passage has in any leg, then BM25's list before the dense one (see
:mod:`hybridsearch.search.fusion`); a document sits where its best passage sits. The order
shown is the ranking: evaluate runs by it, not by re-sorting fused scores.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

import numpy as np

from hybridsearch.dense.identity import model_mismatch_message
from hybridsearch.errors import InvalidInputError, ModelMismatchError
from hybridsearch.search.aggregation import to_unit
from hybridsearch.search.allocator import retain_freed_memory
from hybridsearch.search.background import InBackground
from hybridsearch.search.filters import Filter
from hybridsearch.search.fusion import fuse
from hybridsearch.search.hits import Hits, PassageLookup, make_hit
from hybridsearch.search.legs import DenseSearcher, LegRanking, SparseSearcher, run_bm25, run_dense
from hybridsearch.search.options import SearchOptions
from hybridsearch.search.plan import Plan
from hybridsearch.search.tuned import TunedFusion
from hybridsearch.sparse.feedback import RM3_PARAMETERS
from hybridsearch.validation import check_unicode

__all__ = ["OVERLAP_MIN_PASSAGES", "QueryPlanner"]

#: From this many passages a hybrid search encodes its query in a background thread while the
#: BM25 leg runs. Below it BM25 costs well under a millisecond (0.3 ms on scifact's 10k
#: passages) and the thread would cost about as much as it saves; at 1M passages BM25 takes
#: ~10 ms and the query encoder ~15 ms, each on one core.
OVERLAP_MIN_PASSAGES = 50_000


class _Analyzer(Protocol):
    """Text in, terms out; queries go through its ``analyze_query`` where it has one (the
    BM25 :class:`~hybridsearch.sparse.analysis.Analyzer`: query-only stopwords)."""

    def __call__(self, text: str) -> list[str]: ...


class _QueryEncoder(Protocol):
    identity: Any

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray: ...


class SearchSource(PassageLookup, Protocol):
    """What the planner searches: one consistent view of the index (a snapshot).

    ``bm25`` and ``vectors`` return passage rows best first (ties by row) and take per-part
    ``allowed`` masks; ``allowed(filter)`` gives those masks and how many passages pass.
    """

    num_passages: int

    @property
    def bm25(self) -> SparseSearcher: ...

    @property
    def vectors(self) -> DenseSearcher: ...

    def allowed(self, flt: Filter) -> tuple[Any, int]: ...


class QueryPlanner:
    """Plans and runs searches over one consistent view of an index; made once per view.

    Args:
        analyzer: The BM25 analyzer the passages were indexed with.
        encoder: The query encoder; must be the model the vectors were made with.
        model_identity: The identity of the model the vectors were made with.
        source: The view searched (legs, passages, filters): see :class:`SearchSource`.
        tuned: The index's tuned fusion, if it has one; a plan that fuses as it says notes
            it (how many queries it was tuned on, and what that measured).
        query_identity: A query model trained against those vectors (an asymmetric pair), also
            accepted as the encoder, or None.

    Attributes:
        overlap_min_passages: From this many passages in the view, :meth:`run` encodes the
            queries in a background thread while the BM25 legs run
            (:data:`OVERLAP_MIN_PASSAGES` by default; the hits are the same either way).
    """

    def __init__(
        self,
        *,
        analyzer: _Analyzer,
        encoder: _QueryEncoder,
        model_identity: Any,
        source: SearchSource,
        tuned: TunedFusion | None = None,
        query_identity: Any = None,
    ) -> None:
        self.analyzer = analyzer
        self.encoder = encoder
        self.model_identity = model_identity
        self.query_identity = query_identity
        self.source = source
        self.tuned = tuned
        self.overlap_min_passages = OVERLAP_MIN_PASSAGES
        # What hits match their words with (snippets, highlighting): the BM25 analyzer's
        # per-word memory where it has one, since the same words come back in every search.
        self._word_analyzer = getattr(analyzer, "word_terms", analyzer)
        self._allocator_ready = False

    # -- planning ---------------------------------------------------------------------------

    def plan(self, query: str, options: SearchOptions) -> Plan:
        """Decide what a search for ``query`` will do.

        Raises:
            InvalidInputError: the query is not a string, is empty, or holds a lone
                surrogate (an undecodable byte from a command line becomes one).
        """
        if not isinstance(query, str):
            raise InvalidInputError(f"query must be a string, got {type(query).__name__}")
        if not query.strip():
            raise InvalidInputError("query is empty (or only whitespace); expected some text")
        # Refused, not cleaned: a replaced character would search for something else, and
        # the tokenizer would fail on it with an unrelated TypeError (issue 14).
        check_unicode("query", query)
        terms = getattr(self.analyzer, "analyze_query", self.analyzer)(query)
        known = set(self.source.bm25.known_terms(terms))
        query_terms = tuple(term for term in terms if term in known)
        unknown_terms = tuple(dict.fromkeys(term for term in terms if term not in known))

        legs, notes = _legs_to_run(options.mode, bool(terms), bool(query_terms))
        allowed, searchable = None, self.source.num_passages
        if options.filter is not None:
            allowed, searchable = self.source.allowed(options.filter)
        if "dense" in legs:
            method = (
                self.source.vectors.method(allowed=allowed)
                if allowed
                else (self.source.vectors.method())
            )
            notes = (*notes, f"dense leg: {method}")
        fusion = options.fusion if len(legs) > 1 else None
        feedback = options.bm25_feedback if "bm25" in legs else "none"
        if feedback != "none":
            notes = (*notes, f"bm25 leg: {feedback} pseudo-relevance feedback {RM3_PARAMETERS}")
        if len(legs) > 1 and self.tuned is not None and self.tuned.applies_to(options):
            notes = (*notes, self.tuned.note())
        window = max(options.k, options.depth)
        return Plan(
            query=query,
            k=options.k,
            mode=options.mode,
            legs=legs,
            unit=options.unit,
            depth=max(1, min(window, searchable)),
            target=window,
            max_depth=max(1, searchable),
            fusion=fusion,
            fusion_params=_fusion_params(fusion, legs, options),
            query_terms=query_terms,
            unknown_terms=unknown_terms,
            notes=notes,
            filter=None if options.filter is None else options.filter.describe(),
            filter_passages=None if options.filter is None else searchable,
            allowed=allowed,
            bm25_feedback=feedback,
        )

    # -- running ----------------------------------------------------------------------------

    def run(self, plans: Sequence[Plan]) -> list[Hits]:
        """Run plans, encoding all their dense queries in one batch (see :meth:`run_each`)."""
        return list(self.run_each(plans))

    def run_each(self, plans: Sequence[Plan]) -> Iterator[Hits]:
        """Run plans, encoding all their dense queries in one batch, and yield each plan's
        hits as soon as its legs have run (a server sends a response on while the next
        query's legs run).

        On a large index the batch is encoded in a background thread while the BM25 legs
        run (see :data:`OVERLAP_MIN_PASSAGES`): the encoder and BM25 are the two largest
        costs of a hybrid query at a million passages, and each uses one core. The first
        such run also asks the C allocator to keep freed memory for reuse
        (:func:`~hybridsearch.search.allocator.retain_freed_memory`): returning it from one
        thread stalls the other.
        """
        self._check_query_model(plans)
        first_bm25: dict[int, tuple[LegRanking, float]] = {}
        if self._overlaps(plans):
            if not self._allocator_ready:
                # Two threads allocating large arrays: keep freed pages for reuse (allocator.py).
                retain_freed_memory()
                self._allocator_ready = True
            encoding = InBackground(self._encode_queries, plans)
            first_bm25 = {
                number: _timed(self._run_bm25, plan, plan.depth)
                for number, plan in enumerate(plans)
                if "bm25" in plan.legs
            }
            query_vectors, encode_ms = encoding.result()
        else:
            query_vectors, encode_ms = self._encode_queries(plans)
        for number, plan in enumerate(plans):
            yield self._run_plan(
                plan, query_vectors.get(number), encode_ms, first_bm25.get(number)
            )

    def _overlaps(self, plans: Sequence[Plan]) -> bool:
        """Whether to encode in the background while BM25 runs: only where both legs run and
        the index is large enough for BM25 to cost more than starting a thread."""
        return self.source.num_passages >= self.overlap_min_passages and any(
            len(plan.legs) > 1 for plan in plans
        )

    def leg_rankings(self, plans: Sequence[Plan]) -> list[dict[str, LegRanking]]:
        """Each plan's legs run once at the plan's depth, unfused (what tuning scores).

        Tuning fuses these lists under many settings, so each leg runs once per query
        (no deepening: the first pass's candidates are what every setting sees).
        """
        self._check_query_model(plans)
        query_vectors, _ = self._encode_queries(plans)
        return [
            self._run_legs(plan, query_vectors.get(number), plan.depth, {})
            for number, plan in enumerate(plans)
        ]

    def _check_query_model(self, plans: Sequence[Plan]) -> None:
        """Refuse an encoder that is not the model the vectors were made with (or its paired
        query model), before any leg runs."""
        if not any("dense" in plan.legs for plan in plans):
            return
        identity = self.encoder.identity
        paired = self.query_identity is not None and identity.same_model_as(self.query_identity)
        if not (paired or identity.same_model_as(self.model_identity)):
            raise ModelMismatchError(
                model_mismatch_message(
                    self.model_identity, self.encoder.identity, "this index", "the encoder"
                )
            )

    def _encode_queries(self, plans: Sequence[Plan]) -> tuple[dict[int, np.ndarray], float]:
        """The query vector of each plan that runs the dense leg, and ms per query."""
        numbers = [number for number, plan in enumerate(plans) if "dense" in plan.legs]
        if not numbers:
            return {}, 0.0
        started = time.perf_counter()
        vectors = self.encoder.encode_queries([plans[number].query for number in numbers])
        encode_ms = (time.perf_counter() - started) * 1000 / len(numbers)
        return dict(zip(numbers, vectors, strict=True)), encode_ms

    def _run_plan(
        self,
        plan: Plan,
        query_vector: np.ndarray | None,
        encode_ms: float,
        first_bm25: tuple[LegRanking, float] | None = None,
    ) -> Hits:
        """Legs -> fusion -> result unit, deepening as the plan says; then the top k as hits.

        ``first_bm25``: the BM25 leg already run at the plan's depth (while the query was
        encoded), with its milliseconds.
        """
        timings = {"encode": encode_ms} if query_vector is not None else {}
        started = time.perf_counter()
        depth = plan.depth
        while True:
            done: dict[str, LegRanking] = {}
            if first_bm25 is not None and depth == plan.depth:
                done["bm25"], timings["bm25"] = first_bm25
            rankings = self._run_legs(plan, query_vector, depth, timings, done)
            fusion_started = time.perf_counter()
            ranked = self._to_unit(_fuse(plan, rankings), plan.unit)
            timings["fusion"] = (time.perf_counter() - fusion_started) * 1000
            if not _should_deepen(plan, depth, len(ranked), rankings):
                break
            depth = plan.next_depth(depth)

        hits = [
            make_hit(rank, passage_id, score, self.source.passage_view(passage_id), rankings)
            for rank, (passage_id, score) in enumerate(ranked[: plan.k], start=1)
        ]
        timings["total"] = (time.perf_counter() - started) * 1000 + timings.get("encode", 0.0)
        return Hits(hits, plan=plan, timings=timings, depth=depth, analyzer=self._word_analyzer)

    def _run_legs(
        self,
        plan: Plan,
        query_vector: np.ndarray | None,
        depth: int,
        timings: dict[str, float],
        done: dict[str, LegRanking] | None = None,
    ) -> dict[str, LegRanking]:
        """Each leg's passages, best first, timing each leg (legs in ``done`` already ran)."""
        rankings: dict[str, LegRanking] = {}
        for leg in plan.legs:
            if done and leg in done:
                rankings[leg] = done[leg]
                continue
            started = time.perf_counter()
            if leg == "bm25":
                rankings[leg] = self._run_bm25(plan, depth)
            else:
                rankings[leg] = run_dense(self.source.vectors, query_vector, depth, plan.allowed)
            timings[leg] = (time.perf_counter() - started) * 1000
        return rankings

    def _run_bm25(self, plan: Plan, depth: int) -> LegRanking:
        """The plan's BM25 leg at ``depth``."""
        return run_bm25(self.source.bm25, plan.query_terms, depth, plan.allowed, plan.bm25_feedback)

    def _to_unit(self, fused: list[tuple[int, float]], unit: str) -> list[tuple[int, float]]:
        passage_ids = np.fromiter((passage for passage, _ in fused), np.int64, len(fused))
        rows = self.source.document_rows_of(passage_ids) if unit == "documents" else passage_ids
        return to_unit(fused, unit, rows)


def _timed(function: Callable[..., LegRanking], *args: Any) -> tuple[LegRanking, float]:
    """A leg's ranking and the milliseconds it took."""
    started = time.perf_counter()
    ranking = function(*args)
    return ranking, (time.perf_counter() - started) * 1000


def _legs_to_run(mode: str, has_terms: bool, knows_terms: bool) -> tuple[tuple[str, ...], tuple]:
    """The legs a mode runs, and a note when BM25 has nothing to match."""
    legs = ("bm25", "dense") if mode == "hybrid" else (mode,)
    if "bm25" not in legs or knows_terms:
        return legs, ()
    why = "no query term is known to BM25" if has_terms else "the query has no BM25 terms"
    if mode == "hybrid":
        return ("dense",), (f"{why}: ran dense only",)
    return legs, (f"{why}: BM25 returns nothing",)


def _fusion_params(
    fusion: str | None, legs: tuple[str, ...], options: SearchOptions
) -> dict[str, Any]:
    """What the plan shows of the fusion: its constant or normalisation (none for DBSF), and
    the weights."""
    if fusion is None:
        return {}
    params: dict[str, Any] = {}
    if fusion == "rrf":
        params["k"] = options.rrf_k
    elif fusion == "convex":
        params["normalization"] = options.normalization
    params["weights"] = {leg: options.weights[leg] for leg in legs}
    return params


def _fuse(plan: Plan, rankings: dict[str, LegRanking]) -> list[tuple[int, float]]:
    """The legs' lists fused as the plan says, or the one leg's list with its raw scores."""
    if plan.fusion is None:
        return _single_leg(rankings)
    params = dict(plan.fusion_params)
    leg_weights = params.pop("weights")
    weights = [leg_weights[leg] for leg in plan.legs]
    scored_lists = [rankings[leg].scored_pairs() for leg in plan.legs]
    return fuse(scored_lists, method=plan.fusion, weights=weights, **params)


def _should_deepen(plan: Plan, depth: int, results: int, rankings: dict[str, LegRanking]) -> bool:
    """The plan's deepening rule: too few results, a leg not exhausted, room to go deeper."""
    if not plan.deepens or depth >= plan.max_depth or results >= plan.target:
        return False
    return not all(ranking.exhausted for ranking in rankings.values())


def _single_leg(rankings: dict[str, LegRanking]) -> list[tuple[int, float]]:
    """One leg's list as the result, with its raw scores (no fusion)."""
    return next(iter(rankings.values())).scored_pairs() if rankings else []
