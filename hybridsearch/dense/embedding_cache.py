"""A folder of passage vectors, so rebuilding an unchanged corpus does not re-encode it.

Vectors are keyed by the model identity (weights digest, pooling, normalisation, prompts,
max length) and by each passage text's sha256: a changed model or text never gets a stale
vector. Stored as two ``.npy`` files per model (digests and vectors), replaced atomically.
:func:`encode_passages_cached` encodes passages through the cache in one call.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hybridsearch.validation import string_list

if TYPE_CHECKING:
    from hybridsearch.dense.encoder import Encoder
    from hybridsearch.dense.identity import ModelIdentity

__all__ = ["EmbeddingCache", "encode_passages_cached"]


def encode_passages_cached(
    encoder: Encoder, texts: Sequence[str], cache_dir: str | os.PathLike[str] | None
) -> np.ndarray:
    """Encode passages, reusing vectors from ``cache_dir`` for texts already encoded there.

    The cache is keyed by the model identity (weights, pooling, prompts) and each passage
    text's sha256, so a changed model or text is never served a stale vector; only the texts
    the cache lacks are encoded (in one call), and they are added to it.

    Args:
        encoder: The passage encoder (its ``identity`` keys the cache).
        texts: The passage texts.
        cache_dir: The cache folder, or None to encode everything without a cache.

    Returns:
        float32 (len(texts), dimension), as ``encoder.encode_passages(texts)``.
    """
    if cache_dir is None:
        return encoder.encode_passages(texts)
    text_list = string_list("texts", texts, what="texts")
    cache = EmbeddingCache(cache_dir, encoder.identity)
    vectors, missing = cache.lookup(text_list)
    if missing:
        missing_texts = [text_list[row] for row in missing]
        encoded = encoder.encode_passages(missing_texts)
        vectors[missing] = encoded
        cache.store(missing_texts, encoded)
    return vectors


def _text_digests(texts: Sequence[str]) -> np.ndarray:
    digests = np.empty((len(texts), 32), dtype=np.uint8)
    for row, text in enumerate(texts):
        digests[row] = np.frombuffer(hashlib.sha256(text.encode("utf-8")).digest(), np.uint8)
    return digests


class EmbeddingCache:
    """Passage vectors of one model, looked up by passage text."""

    def __init__(self, directory: str | os.PathLike[str], identity: ModelIdentity) -> None:
        # Changing this key orphans every existing cache (benchmarks/cache): keep it stable.
        fields = identity.to_dict()
        fields.pop("name", None)  # the same weights under another name are the same model
        model_key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()
        self.directory = Path(directory) / model_key[:20]
        self.dimension = identity.dimension
        self._digests_path = self.directory / "digests.npy"
        self._vectors_path = self.directory / "vectors.npy"

    def _load(self) -> tuple[np.ndarray, np.ndarray]:
        if not (self._digests_path.is_file() and self._vectors_path.is_file()):
            return np.empty((0, 32), np.uint8), np.empty((0, self.dimension), np.float32)
        digests = np.load(self._digests_path, allow_pickle=False)
        vectors = np.load(self._vectors_path, allow_pickle=False)
        if len(digests) != len(vectors) or vectors.shape[1:] != (self.dimension,):
            # A damaged cache is only a lost speed-up: start it afresh.
            return np.empty((0, 32), np.uint8), np.empty((0, self.dimension), np.float32)
        return digests, vectors

    def lookup(self, texts: Sequence[str]) -> tuple[np.ndarray, list[int]]:
        """Vectors for ``texts`` (zeros where absent) and the rows that were absent."""
        digests, vectors = self._load()
        row_of = {digest.tobytes(): row for row, digest in enumerate(digests)}
        found = np.zeros((len(texts), self.dimension), dtype=np.float32)
        missing = []
        for row, digest in enumerate(_text_digests(texts)):
            cached_row = row_of.get(digest.tobytes())
            if cached_row is None:
                missing.append(row)
            else:
                found[row] = vectors[cached_row]
        return found, missing

    def store(self, texts: Sequence[str], new_vectors: np.ndarray) -> None:
        """Add vectors for ``texts`` to the cache."""
        digests, vectors = self._load()
        digests = np.concatenate([digests, _text_digests(texts)])
        vectors = np.concatenate([vectors, np.asarray(new_vectors, dtype=np.float32)])
        self.directory.mkdir(parents=True, exist_ok=True)
        for path, array in ((self._digests_path, digests), (self._vectors_path, vectors)):
            partial = path.with_suffix(".partial.npy")
            np.save(partial, array)
            os.replace(partial, path)
