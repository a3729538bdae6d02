"""Passage vectors for the scale benchmarks, made from real all-MiniLM-L6-v2 vectors.

Encoding a million passages takes hours on 2 cores, so the scale runs give passages vectors
that were not encoded from their text. Two modes, and neither is real data:

- ``noisy-copies`` (the first scale runs): every repeat of a distinct scifact passage gets that
  passage's stored vector plus Gaussian noise (relative norm 0.3), renormalised. At 1M each of
  the ~10k distinct vectors has ~100 near-duplicates whose differences are pure isotropic
  noise, and a query's top 10 are the copies with the luckiest noise: the worst case for a
  graph index (no structure to walk inside a cluster), an easy one for IVF (a cluster sits in
  one or two cells).
- ``realistic`` ("realistic synthetic"): every row is a new vector, a normalised mixture of its
  own passage's real vector and one or two other real passage vectors (scifact and nfcorpus
  passages from the embedding cache), weights drawn from a flat Dirichlet, plus small noise
  (relative norm 0.05). Rows are distinct and spread over the manifold real embeddings occupy,
  with no clusters of exact copies. Recall measured on them is still a synthetic figure: real
  corpora have their own structure (near-duplicates, topics), which it does not reproduce.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["MODES", "make_vectors", "real_vector_pool"]

MODES = ("noisy-copies", "realistic")
#: Rows generated per block: bounds temporary memory at any size.
_BLOCK = 100_000


def real_vector_pool(cache: Path) -> np.ndarray:
    """Every real passage vector in an embedding cache folder (all models' ``vectors.npy``).

    ``benchmarks/cache`` holds the all-MiniLM-L6-v2 vectors of scifact's and nfcorpus'
    passages (one folder per model identity).
    """
    pools = [
        np.load(path, allow_pickle=False) for path in sorted(Path(cache).glob("*/vectors.npy"))
    ]
    if not pools:
        raise FileNotFoundError(f"no */vectors.npy under {cache}")
    pool = np.concatenate(pools).astype(np.float32)
    return pool / np.linalg.norm(pool, axis=1, keepdims=True)


def make_vectors(
    mode: str,
    own: np.ndarray,
    base: np.ndarray,
    pool: np.ndarray | None,
    seed: int,
    noise: float | None = None,
) -> np.ndarray:
    """float32 unit vectors, one per row of ``own`` (each row's distinct-passage index).

    Args:
        mode: ``"noisy-copies"`` or ``"realistic"`` (see the module docstring).
        own: int64 (n,): which row of ``base`` each new vector starts from.
        base: float32 (m, dim): the distinct passages' real vectors.
        pool: float32 (p, dim): the real vectors mixed in (``realistic`` only).
        seed: Random seed (same seed, same vectors).
        noise: Relative norm of the Gaussian noise; default 0.3 (noisy-copies), 0.05
            (realistic).
    """
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    rng = np.random.default_rng(seed)
    noise = (0.3 if mode == "noisy-copies" else 0.05) if noise is None else noise
    out = np.empty((len(own), base.shape[1]), dtype=np.float32)
    for start in range(0, len(own), _BLOCK):
        rows = own[start : start + _BLOCK]
        block = base[rows].astype(np.float32)
        if mode == "realistic":
            assert pool is not None
            parts = rng.integers(2, 4, len(rows))  # 2 or 3 vectors in the mixture
            weights = rng.dirichlet(np.ones(3), len(rows)).astype(np.float32)
            weights[parts == 2, 2] = 0.0
            weights /= weights.sum(axis=1, keepdims=True)
            block *= weights[:, :1]
            for column in (1, 2):
                others = pool[rng.integers(0, len(pool), len(rows))]
                block += weights[:, column : column + 1] * others
            block /= np.linalg.norm(block, axis=1, keepdims=True)
        block += rng.standard_normal(block.shape, dtype=np.float32) * (
            noise / np.sqrt(block.shape[1])
        )
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + len(rows)] = block
    return out
