"""Helpers shared by the benchmark scripts: machine description, BEIR loading, JSON results.

Benchmarks run on a shared development machine, so every result file carries the machine
description and a note that timings are noisy.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"
#: The passage-vector cache the benchmarks share (an embedding cache folder).
CACHE_DIR = REPO_ROOT / "benchmarks" / "cache"

NOISE_NOTE = (
    "Measured on a shared machine where other work runs at the same time; CPU timings are "
    "noisy (expect +-20% or more between runs). Compare figures measured side by side in one "
    "run, not across runs."
)

# Distributions whose versions a result file records when they are installed. Versions come
# from package metadata, so nothing heavy (torch) is imported just to describe the machine.
_VERSIONED_DISTRIBUTIONS = (
    "hybridsearch",
    "numpy",
    "torch",
    "transformers",
    "faiss-cpu",
    "rank-bm25",
    "bm25s",
    "nltk",
    "PyStemmer",
    "pytrec-eval-terrier",
    "sentence-transformers",
)


def single_thread_environment() -> None:
    """Pin BLAS/OpenMP pools to one thread; call before numpy is imported to take effect."""
    for variable in (
        "OMP_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "MKL_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
    ):
        os.environ[variable] = "1"


def default_data_path(name: str) -> Path:
    """Where a BEIR dataset lives by default: ../shared/beir/<name> from the repository root."""
    return REPO_ROOT.parent / "shared" / "beir" / name


def machine_info() -> dict[str, Any]:
    """CPU model, core counts, memory, OS, Python and library versions, git commit."""
    cpu_model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu_model = platform.processor() or "unknown"
    info: dict[str, Any] = {
        "cpu_model": cpu_model,
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "versions": {},
        "git_commit": _git_commit(),
    }
    try:
        import psutil

        info["physical_cores"] = psutil.cpu_count(logical=False)
        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    for distribution in _VERSIONED_DISTRIBUTIONS:
        try:
            info["versions"][distribution] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            continue
    return info


def _git_commit() -> str | None:
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain"], cwd=REPO_ROOT, capture_output=True, text=True
    ).stdout.strip()
    return completed.stdout.strip() + ("-dirty" if dirty else "")


def write_results(name: str, payload: dict[str, Any]) -> Path:
    """Write benchmarks/results/<name>.json with the machine info and the noise note added."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    document = {"benchmark": name, "machine": machine_info(), "note": NOISE_NOTE, **payload}
    path = RESULTS_DIR / f"{name}.json"
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", "utf-8")
    os.replace(temporary, path)
    return path


@dataclass(frozen=True)
class BeirData:
    """A BEIR test collection, ready for benchmarks.

    Attributes:
        name: The dataset folder name (``scifact``).
        doc_ids: Corpus ids in file order.
        doc_texts: ``title + " " + text`` per document, aligned with doc_ids.
        query_ids: Ids of the queries judged in the split, sorted.
        query_texts: Query texts aligned with query_ids.
        qrels: query id -> {doc id: relevance}.
    """

    name: str
    doc_ids: list[str]
    doc_texts: list[str]
    query_ids: list[str]
    query_texts: list[str]
    qrels: dict[str, dict[str, int]]


def load_beir(data_dir: str | os.PathLike[str], split: str = "test") -> BeirData:
    """Read a BEIR folder for a benchmark, with the package's own readers.

    ``doc_texts`` is ``title + " " + text``, as BEIR evaluations do; queries are those judged
    in ``split``, sorted by id.

    Raises:
        SystemExit: the folder is not a BEIR dataset (benchmarks are scripts: the message says
            which file).
    """
    from hybridsearch.corpus.readers import read_beir_corpus
    from hybridsearch.errors import HybridSearchError
    from hybridsearch.eval.beir import load_beir as load_split

    try:
        split_data = load_split(data_dir, split=split)
        documents = list(read_beir_corpus(data_dir))
    except HybridSearchError as error:
        raise SystemExit(f"cannot read the BEIR dataset: {error}") from error
    query_ids = sorted(split_data.queries)
    return BeirData(
        name=Path(data_dir).resolve().name,
        doc_ids=[document.id for document in documents],
        doc_texts=[f"{document.title} {document.text}" for document in documents],
        query_ids=query_ids,
        query_texts=[split_data.queries[query_id] for query_id in query_ids],
        qrels=split_data.qrels,
    )


def ndcg_at_10(qrels: dict[str, dict[str, int]], run: dict[str, dict[str, float]]) -> float:
    """Mean nDCG@10 over every judged query (pytrec_eval); a query with no results counts 0."""
    from hybridsearch.eval.metrics import evaluate

    return evaluate(run, qrels, ["ndcg@10"])["ndcg@10"]


def remember_query_vectors(encoder: Any) -> Any:
    """Make ``encoder`` encode each query text once, so variants of one run share their query
    vectors (a query's vector does not depend on the batch it came in: see
    ``hybridsearch/dense/query_batches.py``)."""
    import numpy as np

    encode = encoder.encode_queries
    vectors: dict[str, Any] = {}

    def encode_queries(texts):
        missing = list(dict.fromkeys(text for text in texts if text not in vectors))
        if missing:
            vectors.update(zip(missing, encode(missing), strict=True))
        return np.stack([vectors[text] for text in texts])

    encoder.encode_queries = encode_queries
    return encoder


def paired_p_value(differences: Any, permutations: int, seed: int = 0) -> float:
    """Two-sided paired randomization test: how often random sign flips of the per-query
    differences give a mean at least as far from zero as the observed one."""
    import numpy as np

    generator = np.random.default_rng(seed)
    signs = generator.choice((-1.0, 1.0), size=(permutations, len(differences)))
    observed = abs(differences.mean())
    extreme = np.abs((signs * differences).mean(axis=1)) >= observed - 1e-12
    return float((extreme.sum() + 1) / (permutations + 1))
