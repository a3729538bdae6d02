"""Adapting an index's encoder to its corpus (``adapt``) or to user pairs (``finetune``).

::

    index ─> pairs (mined: title -> text, sentence -> rest; or the user's file)
          ─> BM25 hard negatives from the index's passages
          ─> contrastive training (hybridsearch.train) ─> a sentence-transformers model folder
          ─> symmetric: a new index of the same documents, encoded by the new model
             query only: the same passage vectors, paired with the new query model
          ─> with dev labels: kept only if it wins there; else nothing is written

Nothing here changes the index it starts from: the adapted index is written to a new path.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from hybridsearch.corpus.documents import Passage
from hybridsearch.errors import InvalidInputError
from hybridsearch.index.hybrid_index import HybridIndex
from hybridsearch.train.model_writer import write_model_folder
from hybridsearch.train.negatives import mine_bm25_negatives
from hybridsearch.train.pairs import PAIR_SOURCES, TrainingPair, cap_pairs, mine_pairs
from hybridsearch.train.pairs_file import read_pairs_file
from hybridsearch.train.trainer import TrainSettings, train_encoder

__all__ = ["AdaptationReport", "DevCheck", "adapt_index"]

#: The search modes a dev check scores; the decision is taken on the first (the default mode).
DEV_MODES = ("hybrid", "dense")
DEV_METRIC = "ndcg@10"


@dataclass(frozen=True)
class DevCheck:
    """nDCG@10 of the base and the adapted index on labelled dev queries, per mode.

    The adapted model is kept only when it is better in :data:`DEV_MODES`' first mode (hybrid,
    what a search runs by default).
    """

    queries: int
    base: dict[str, float]
    adapted: dict[str, float]

    @property
    def gain(self) -> float:
        """Adapted minus base nDCG@10 in the deciding mode."""
        return self.adapted[DEV_MODES[0]] - self.base[DEV_MODES[0]]

    @property
    def kept(self) -> bool:
        """Whether the adapted model won."""
        return self.gain > 0


@dataclass(frozen=True)
class AdaptationReport:
    """What an adaptation did, for the command line and the benchmarks.

    Attributes:
        model_folder: The model written (None when the dev check discarded it).
        index_path: The adapted index written (None when discarded).
        query_only: Whether only the query side was trained.
        pairs: Training pairs used (after capping).
        hard_negatives: Pairs that got a BM25 hard negative.
        steps: Optimizer steps.
        final_loss: Mean loss over the last tenth of the steps.
        device: Where it trained.
        seconds: Wall time per stage (mine, train, encode, dev).
        dev: The dev check, or None when no labels were given (then nothing checked it).
    """

    model_folder: Path | None
    index_path: Path | None
    query_only: bool
    pairs: int
    hard_negatives: int
    steps: int
    final_loss: float
    device: str
    seconds: dict[str, float] = field(default_factory=dict)
    dev: DevCheck | None = None

    def describe(self) -> str:
        """The lines the command prints: what was trained, what was written, what checked it."""
        side = "the query side only" if self.query_only else "queries and passages"
        lines = [
            f"trained {side} on {self.pairs} pairs ({self.hard_negatives} with a BM25 hard "
            f"negative), {self.steps} steps on {self.device} in "
            f"{self.seconds.get('train', 0.0):.0f} s, final loss {self.final_loss:.3f}"
        ]
        if self.dev is None:
            lines.append(
                "nothing checked it: no dev labels were given (--dev-queries/--dev-qrels), so "
                "it is not known whether the adapted model is better or worse than the base"
            )
        else:
            for mode in DEV_MODES:
                lines.append(
                    f"dev {mode} {DEV_METRIC} on {self.dev.queries} queries: base "
                    f"{self.dev.base[mode]:.4f}, adapted {self.dev.adapted[mode]:.4f} "
                    f"({self.dev.adapted[mode] - self.dev.base[mode]:+.4f})"
                )
            verdict = "kept" if self.dev.kept else "discarded (not better on dev)"
            lines.append(f"adapted model {verdict}: {DEV_MODES[0]} {self.dev.gain:+.4f}")
        if self.index_path is not None:
            lines.append(f"model written to {self.model_folder}")
            lines.append(f"adapted index written to {self.index_path}")
        return "\n".join(lines)


def adapt_index(
    index_path: str | os.PathLike[str],
    *,
    output: str | os.PathLike[str],
    model_output: str | os.PathLike[str],
    pairs_file: str | os.PathLike[str] | None = None,
    sources: Sequence[str] = PAIR_SOURCES,
    max_pairs: int | None = None,
    hard_negatives: bool = True,
    settings: TrainSettings | Mapping[str, Any] | None = None,
    dev_queries: str | os.PathLike[str] | None = None,
    dev_qrels: str | os.PathLike[str] | None = None,
    progress: bool = False,
    embedding_cache: str | os.PathLike[str] | None = None,
) -> AdaptationReport:
    """Train the index's encoder on pairs from its documents (or a file) and write the result.

    Args:
        index_path: The index to adapt (read only; never changed).
        output: Where the adapted index goes (a new path, or an index to replace).
        model_output: Where the trained model folder goes (new or empty).
        pairs_file: User pairs (``finetune``); None mines pairs from the documents.
        sources: Pair miners when mining (:data:`~hybridsearch.train.pairs.PAIR_SOURCES`).
        max_pairs: Keep at most this many pairs (a seeded sample): the CPU-time cap.
        hard_negatives: Add one BM25-mined hard negative per pair.
        settings: Training settings, or a mapping of some of their fields (``query_only``
            picks the mode).
        dev_queries: BEIR-style queries.jsonl of labelled dev queries (with ``dev_qrels``).
        dev_qrels: Their qrels TSV.
        progress: Progress bars (training steps with a time estimate; encoding).
        embedding_cache: Passage-vector cache for re-encoding (keyed by model identity).

    Raises:
        InvalidInputError: only one of ``dev_queries``/``dev_qrels``, too few pairs, or
            ``model_output`` is a non-empty folder.
        CorpusFormatError: a malformed pairs or dev file.
    """
    if not isinstance(settings, TrainSettings):
        settings = TrainSettings(**dict(settings or {}))
    if (dev_queries is None) != (dev_qrels is None):
        raise InvalidInputError("--dev-queries and --dev-qrels go together: give both or neither")
    labelled = _read_dev(dev_queries, dev_qrels)  # a bad file fails before any training
    model_path = Path(model_output)
    if model_path.exists() and (not model_path.is_dir() or any(model_path.iterdir())):
        raise InvalidInputError(
            f"model output {model_path} already exists and is not an empty folder; choose a "
            "new path (checked before training, so no training is lost)"
        )
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    base_index = HybridIndex.load(index_path)
    pairs, passage_vectors = _training_pairs(
        base_index, pairs_file, sources, max_pairs, hard_negatives, settings
    )
    seconds["mine"] = time.perf_counter() - started

    base_model = base_index.build_info.model_source or base_index.model_identity.name
    trained = train_encoder(
        base_model, pairs, settings, progress=progress, passage_vectors=passage_vectors
    )
    seconds["train"] = trained.seconds
    source = str(pairs_file) if pairs_file else list(sources)
    folder = _write_model(model_output, trained, base_index, settings, len(pairs), source)
    adapted, seconds["encode"] = _adapted_index(
        base_index, folder, settings, progress, embedding_cache
    )
    dev = None
    if labelled is not None:
        started = time.perf_counter()
        dev = DevCheck(
            len(labelled[0]), _dev_scores(base_index, *labelled), _dev_scores(adapted, *labelled)
        )
        seconds["dev"] = time.perf_counter() - started
    kept = dev is None or dev.kept
    if kept:
        adapted.save(output)
    else:
        shutil.rmtree(folder, ignore_errors=True)
    tail = trained.losses[-max(1, len(trained.losses) // 10) :]
    return AdaptationReport(
        model_folder=folder if kept else None,
        index_path=Path(output) if kept else None,
        query_only=settings.query_only,
        pairs=len(pairs),
        hard_negatives=sum(1 for pair in pairs if pair.negatives),
        steps=trained.steps,
        final_loss=float(np.mean(tail)),
        device=trained.device,
        seconds=seconds,
        dev=dev,
    )


def _write_model(
    destination: Any,
    trained: Any,
    base: HybridIndex,
    settings: TrainSettings,
    pairs: int,
    source: Any,
) -> Path:
    """The trained model as a sentence-transformers folder, with what it was trained from."""
    record = {
        "base_model": base.model_identity.to_dict(),
        "mode": "query_only" if settings.query_only else "symmetric",
        "pairs": pairs,
        "pair_source": source,
        "settings": settings.to_dict(),
        "steps": trained.steps,
        "losses": [round(loss, 5) for loss in trained.losses],
    }
    return write_model_folder(
        destination,
        trained.model,
        trained.tokenizer,
        trained.base,
        max_seq_length=base.encoder.max_seq_length,
        record=record,
    )


def _read_dev(queries: Any, qrels: Any) -> tuple[dict, dict] | None:
    if queries is None:
        return None
    from hybridsearch.eval.beir import read_labelled_queries

    return read_labelled_queries(queries, qrels)


def _training_pairs(
    index: HybridIndex,
    pairs_file: Any,
    sources: Sequence[str],
    max_pairs: int | None,
    hard_negatives: bool,
    settings: TrainSettings,
) -> tuple[list[TrainingPair], dict[str, np.ndarray] | None]:
    """The pairs to train on (capped, with hard negatives) and, query-only, stored vectors."""
    if pairs_file is not None:
        pairs = read_pairs_file(pairs_file, lambda doc_id: _find(index, doc_id))
    else:
        pairs = mine_pairs(list(index.documents()), sources, seed=settings.seed)
    pairs = cap_pairs(pairs, max_pairs, seed=settings.seed)
    if len(pairs) < 2:
        raise InvalidInputError(
            f"only {len(pairs)} training pairs (sources {list(sources)}); training needs at "
            "least 2: documents with titles (title) or of several sentences (sentence), or "
            "a pairs file"
        )
    texts, doc_ids, vectors = live_passages(index)
    if hard_negatives:
        pairs = mine_bm25_negatives(pairs, texts, doc_ids, analyzer=index.analyzer)
    if not settings.query_only:
        return pairs, None
    # Query only: the passage tower is the base model, whose vectors the index already holds.
    # A pair's positive becomes its document's first stored passage: the vector a search with
    # the trained query model has to find (and no passage needs encoding).
    first_passage: dict[str, str] = {}
    for text, doc_id in zip(texts, doc_ids, strict=True):
        first_passage.setdefault(doc_id, text)
    pairs = [
        replace(pair, positive=first_passage[pair.doc_id]) if pair.doc_id in first_passage else pair
        for pair in pairs
    ]
    return pairs, dict(zip(texts, vectors, strict=True))


def _find(index: HybridIndex, doc_id: str) -> Any:
    try:
        return index.document(doc_id)
    except KeyError:
        return None


def live_passages(index: HybridIndex) -> tuple[list[str], list[str], np.ndarray]:
    """Every live passage's indexed text, document id and stored vector, in index order."""
    texts: list[str] = []
    doc_ids: list[str] = []
    rows: list[np.ndarray] = []
    snapshot = index.snapshot
    for segment, live in zip(snapshot.segments, snapshot.live_passages, strict=True):
        live_rows = np.flatnonzero(live)
        columns = segment.passage_columns
        for row in live_rows.tolist():
            document = segment.documents.get(int(columns["document_rows"][row]))
            passage = Passage.from_span(
                document,
                len(texts),
                int(columns["starts"][row]),
                int(columns["ends"][row]),
                carry_title=bool(columns["title_carried"][row]),
            )
            texts.append(passage.indexed_text)
            doc_ids.append(document.id)
        rows.append(np.asarray(segment.vectors[live_rows], dtype=np.float32))
    return texts, doc_ids, np.concatenate(rows)


def _adapted_index(
    base: HybridIndex, folder: Path, settings: TrainSettings, progress: bool, cache: Any
) -> tuple[HybridIndex, float]:
    """The index the new model serves, and the seconds it took to make."""
    from hybridsearch.dense.encoder import Encoder
    from hybridsearch.train.trainer import resolve_device

    started = time.perf_counter()
    device = resolve_device(settings.device)
    if settings.query_only:
        adapted = HybridIndex.load(base.directory)
        adapted.pair_query_model(Encoder(folder, device=device))
        return adapted, time.perf_counter() - started
    source = base.build_info.source.get("path")
    adapted = HybridIndex.build(
        base.documents(),
        model=Encoder(folder, device=device, progress=progress),
        chunking=base.settings.chunking,
        analyzer=base.settings.analyzer,
        bm25=base.settings.bm25,
        vectors=base.settings.vectors,
        progress=progress,
        embedding_cache=cache,
        source_path=source,
    )
    return adapted, time.perf_counter() - started


def _dev_scores(index: HybridIndex, queries: dict, qrels: dict) -> dict[str, float]:
    """nDCG@10 per mode of :data:`DEV_MODES` on the labelled queries."""
    from hybridsearch.eval.metrics import evaluate, run_from_ranked
    from hybridsearch.eval.runs import search_run

    return {
        mode: evaluate(run_from_ranked(search_run(index, queries, mode=mode)), qrels, [DEV_METRIC])[
            DEV_METRIC
        ]
        for mode in DEV_MODES
    }
