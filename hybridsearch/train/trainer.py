"""Contrastive training of a sentence encoder: MultipleNegativesRankingLoss, one loop.

A hand-written torch loop rather than sentence-transformers' trainer: that trainer needs the
``datasets`` and ``accelerate`` packages (hundreds of MB with their dependencies) for what is
here fifty lines, and the encoder of this project runs on plain transformers already, so the
model trained is exactly the one :class:`~hybridsearch.dense.encoder.Encoder` runs (same
loading, same pooling). sentence-transformers stays a test dependency: the tests load the
folder written with it and compare vectors.

Two modes:

- **symmetric** (default): one model encodes queries and passages and all of it is trained;
  the corpus must then be re-encoded with it.
- **query only**: the passage tower is the base model, frozen, so the vectors already stored
  in an index stay valid; only a copy of the model that encodes queries is trained (an
  asymmetric dual encoder). Passage vectors are computed once, without gradients, by the
  base model exactly as the index computed them.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hybridsearch.dense.model_folder import ModelFolder, open_model_folder
from hybridsearch.errors import InvalidInputError
from hybridsearch.train.batching import batches_without_duplicates
from hybridsearch.train.loss import SCALE, multiple_negatives_ranking_loss
from hybridsearch.train.pairs import TrainingPair
from hybridsearch.validation import finite_number, positive_int

__all__ = ["TrainSettings", "TrainedModel", "resolve_device", "train_encoder"]


@dataclass(frozen=True)
class TrainSettings:
    """How to train (checked when made).

    Attributes:
        batch_size: Pairs per step (more in-batch negatives per query as it grows).
        epochs: Passes over the pairs.
        learning_rate: AdamW's peak learning rate (after a linear warm-up, then linear decay).
        warmup_fraction: Fraction of the steps spent warming up.
        max_seq_length: Tokens per text while training (128: most of the signal, half the cost
            of the index's 256 on CPU); the model written keeps the base's length.
        scale: MultipleNegativesRankingLoss's similarity scale.
        seed: Seeds the batch order and torch.
        device: "auto" (CUDA when present, else CPU), "cpu", "cuda", "cuda:1", ...
        query_only: Train only the query side (see the module docstring).
        train_embeddings: Also train the word-embedding matrix. Off by default: it is half of
            a small model's weights, a few thousand pairs cannot teach it much (most rows get
            no gradient), and on CPU its optimizer update costs as much as the rest.
    """

    batch_size: int = 32
    epochs: int = 1
    learning_rate: float = 2e-5
    warmup_fraction: float = 0.1
    max_seq_length: int = 128
    scale: float = SCALE
    seed: int = 0
    device: str = "auto"
    query_only: bool = False
    train_embeddings: bool = False

    def __post_init__(self) -> None:
        positive_int("batch_size", self.batch_size)
        positive_int("epochs", self.epochs)
        positive_int("max_seq_length", self.max_seq_length)
        if finite_number("learning_rate", self.learning_rate) <= 0:
            raise InvalidInputError(f"learning_rate must be > 0, got {self.learning_rate}")
        if not 0 <= finite_number("warmup_fraction", self.warmup_fraction) < 1:
            raise InvalidInputError(
                f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}"
            )
        if finite_number("scale", self.scale) <= 0:
            raise InvalidInputError(f"scale must be > 0, got {self.scale}")
        if not isinstance(self.device, str) or not self.device:
            raise InvalidInputError(f"device must be a non-empty str, got {self.device!r}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (recorded in the model folder written)."""
        return dict(self.__dict__)


@dataclass
class TrainedModel:
    """What :func:`train_encoder` returns: the trained transformer and how it went.

    Attributes:
        model: The transformer (eval mode).
        tokenizer: Its tokenizer.
        base: The base model's folder.
        device: Where it was trained.
        steps: Optimizer steps taken.
        losses: The loss of each step.
        seconds: Wall time of the training loop.
    """

    model: Any
    tokenizer: Any
    base: ModelFolder
    device: str
    steps: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def resolve_device(device: str) -> str:
    """ "auto" -> "cuda" when torch sees a GPU, else "cpu"; other names unchanged."""
    if device != "auto":
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def train_encoder(
    base: str | Path | None,
    pairs: Sequence[TrainingPair],
    settings: TrainSettings | None = None,
    *,
    progress: bool = False,
    passage_vectors: Mapping[str, Any] | None = None,
) -> TrainedModel:
    """Fine-tune ``base`` on the pairs with MultipleNegativesRankingLoss.

    Args:
        base: The model folder to start from (None: the default model).
        pairs: Training pairs; their hard negatives, if any, join the in-batch negatives.
        settings: How to train.
        progress: A tqdm bar over steps (with its time estimate and the running loss).
        passage_vectors: Query-only mode: passage text -> the vector an index already stores
            for it (by the base model); texts not in it are encoded by the base model.

    Raises:
        InvalidInputError: fewer than two pairs (no in-batch negative), or bad settings.
        ModelLoadError: the base cannot be loaded.
    """
    import torch
    from tqdm.auto import tqdm
    from transformers import get_linear_schedule_with_warmup

    from hybridsearch.dense.loading import load_transformer

    settings = settings or TrainSettings()
    if len(pairs) < 2:
        raise InvalidInputError(
            f"training needs at least 2 pairs (in-batch negatives), got {len(pairs)}"
        )
    torch.manual_seed(settings.seed)
    device = resolve_device(settings.device)
    folder = open_model_folder(base)
    loaded = load_transformer(folder, device=device)
    model, tokenizer = loaded.model, loaded.tokenizer
    batches = [
        batch
        for epoch in range(settings.epochs)
        for batch in batches_without_duplicates(
            pairs, settings.batch_size, seed=settings.seed + epoch
        )
    ]
    frozen = (
        _frozen_passage_vectors(base, pairs, device, passage_vectors or {})
        if settings.query_only
        else None
    )
    if not settings.train_embeddings:
        model.get_input_embeddings().weight.requires_grad_(False)
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate)
    scheduler = get_linear_schedule_with_warmup(
        optimizer, math.ceil(settings.warmup_fraction * len(batches)), len(batches)
    )
    tower = _Tower(model, tokenizer, folder, settings.max_seq_length, loaded.device)
    trained = TrainedModel(model, tokenizer, folder, str(loaded.device), steps=0)
    started = time.perf_counter()
    model.train()
    with tqdm(batches, desc="training", unit="step", disable=not progress) as bar:
        for batch in bar:
            queries = tower.encode([folder.query_prompt + pair.query for pair in batch])
            positives, negatives = _passage_side(batch, tower, folder, frozen, loaded.device)
            loss = multiple_negatives_ranking_loss(
                queries, positives, negatives, scale=settings.scale
            )
            loss.backward()
            optimizer.step()
            scheduler.step()
            optimizer.zero_grad()
            trained.losses.append(float(loss.detach()))
            trained.steps += 1
            bar.set_postfix(loss=f"{trained.losses[-1]:.3f}")
    model.eval()
    trained.seconds = time.perf_counter() - started
    return trained


class _Tower:
    """Encodes texts with the model being trained (gradients on), as the Encoder pools them."""

    def __init__(self, model: Any, tokenizer: Any, folder: ModelFolder, length: int, device: Any):
        self.model, self.tokenizer, self.folder = model, tokenizer, folder
        self.length, self.device = length, device

    def encode(self, texts: list[str]) -> Any:
        from hybridsearch.dense.pooling import pool

        batch = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.length, return_tensors="pt"
        ).to(self.device)
        hidden = self.model(**batch).last_hidden_state
        return pool(hidden.float(), batch["attention_mask"], self.folder.pooling)


def _passage_side(
    batch: list[TrainingPair], tower: _Tower, folder: ModelFolder, frozen: Any, device: Any
) -> tuple[Any, Any]:
    """The positives' and hard negatives' vectors for a batch (frozen ones in query-only mode)."""
    import torch

    negative_texts = [text for pair in batch for text in pair.negatives]
    if frozen is not None:
        positives = torch.stack([frozen[pair.positive] for pair in batch]).to(device)
        negatives = (
            torch.stack([frozen[text] for text in negative_texts]).to(device)
            if negative_texts
            else None
        )
        return positives, negatives
    texts = [folder.passage_prompt + text for text in [p.positive for p in batch] + negative_texts]
    vectors = tower.encode(texts)
    return vectors[: len(batch)], (vectors[len(batch) :] if negative_texts else None)


def _frozen_passage_vectors(
    base: str | Path | None,
    pairs: Sequence[TrainingPair],
    device: str,
    stored: Mapping[str, Any],
) -> dict[str, Any]:
    """Passage text -> its vector by the base model: stored where given, else encoded."""
    import numpy as np
    import torch

    from hybridsearch.dense.encoder import Encoder

    texts = sorted({text for pair in pairs for text in (pair.positive, *pair.negatives)})
    missing = [text for text in texts if text not in stored]
    vectors = {text: np.asarray(stored[text], dtype=np.float32) for text in texts if text in stored}
    if missing:
        # The index's own encoder settings (full max length, float32): what it would store.
        encoder = Encoder(base, device=device, bf16=False)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # truncation: the index cut these texts the same way
            vectors.update(zip(missing, encoder.encode_passages(missing), strict=True))
    return {text: torch.from_numpy(np.array(vector)) for text, vector in vectors.items()}
