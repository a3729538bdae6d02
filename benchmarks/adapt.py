"""Encoder adaptation on BEIR: base vs adapted, dense and hybrid nDCG@10 on the test split.

Each condition trains with :func:`hybridsearch.index.adaptation.adapt_index` (the code path of
``hybridsearch adapt`` / ``finetune``), then scores base and adapted indexes on the dev
labels (the keep/discard decision: hybrid nDCG@10 must rise there) and on test (reported, never
used to choose). Conditions:

- ``title`` / ``sentence``: unsupervised pairs mined from the corpus (title -> text, sentence
  -> rest of its document), BM25 hard negatives.
- ``supervised`` / ``supervised-deoverlap``: the train split's (query, judged document) pairs,
  all of them or without those whose document is judged in test. Their dev check would be the
  training data itself, so none is made (``dev`` is null).

CPU caps (say them with the figures): ``--max-pairs``, max_seq_length 128 for training, one
epoch, batch 32, learning rate 2e-5; ``--query-only`` (default) trains the query tower only
against the stored passage vectors, so the corpus is not re-encoded.

    nice -n 10 python benchmarks/adapt.py --dataset scifact --index indexes/scifact \
        --dev-split train --conditions title sentence supervised supervised-deoverlap
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._common import REPO_ROOT, write_results

MODES = (("dense", "rrf"), ("hybrid", "rrf"), ("hybrid", "convex"))
DEV_MODES = (("dense", "rrf"), ("hybrid", "rrf"))  # the decision is on hybrid RRF
#: ``--all-fusions``: every fusion (and ``tuned``: fitted on the dev labels, then scored).
ALL_MODES = (*MODES, ("hybrid", "convex-zscore"), ("hybrid", "dbsf"))


def main() -> None:
    """Run the conditions asked for and write benchmarks/results/adapt_<dataset>.json."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--beir", default=str(REPO_ROOT.parent.parent / "shared" / "beir"))
    parser.add_argument("--index", required=True, help="the base index of the dataset")
    parser.add_argument("--dev-split", required=True, help="labels of the keep decision")
    parser.add_argument("--conditions", nargs="+", required=True)
    parser.add_argument("--max-pairs", type=int, default=1024)
    parser.add_argument(
        "--max-dev-queries", type=int, default=200, help="a seeded sample of the dev labels"
    )
    parser.add_argument("--symmetric", action="store_true", help="train both towers")
    parser.add_argument(
        "--dev-fraction",
        type=float,
        default=0.0,
        help="hold out this fraction of the dev split's queries (seeded) as the dev part and "
        "train supervised conditions on the rest only (0: the whole dev split is sampled)",
    )
    parser.add_argument("--split-seed", type=int, default=0, help="seed of --dev-fraction")
    parser.add_argument(
        "--all-fusions",
        action="store_true",
        help="score every fusion, and the fusion tuned on the dev labels (``tune``)",
    )
    parser.add_argument("--max-seq-length", type=int, default=128, help="training length")
    parser.add_argument("--epochs", type=int, default=1, help="passes over the pairs")
    parser.add_argument("--learning-rate", type=float, default=2e-5, help="peak learning rate")
    parser.add_argument("--tag", default="", help="suffix of the conditions' names (variants)")
    parser.add_argument("--part", default="", help="suffix of the result file (parallel runs)")
    parser.add_argument("--skip-base", action="store_true", help="another part scores the base")
    args = parser.parse_args()

    from hybridsearch import HybridIndex
    from hybridsearch.eval.beir import load_beir

    folder = Path(args.beir) / args.dataset
    test = load_beir(folder, split="test")
    train_part = None
    if args.dev_fraction > 0:
        train_part, dev = _split(load_beir(folder, split=args.dev_split), args)
    else:
        dev = _sample(load_beir(folder, split=args.dev_split), args.max_dev_queries)
    modes = ALL_MODES if args.all_fusions else MODES
    dev_modes = ALL_MODES if args.all_fusions else DEV_MODES
    base = _memoised(HybridIndex.load(args.index))
    name = f"adapt_{args.dataset}" + ("_symmetric" if args.symmetric else "") + args.part
    results: dict[str, Any] = {
        "dataset": args.dataset,
        "caps": {
            "max_pairs": args.max_pairs,
            "max_seq_length": args.max_seq_length,
            "epochs": args.epochs,
            "batch_size": 32,
            "learning_rate": args.learning_rate,
            "query_only": not args.symmetric,
        },
        "dev_split": args.dev_split,
        "dev_fraction": args.dev_fraction,
        "split_seed": args.split_seed,
        "training_queries": None if train_part is None else len(train_part.queries),
        "dev_queries": len(dev.queries),
        "load_average_start": list(os.getloadavg()),
        "base": None if args.skip_base else _evaluate(base, test, dev, modes, dev_modes, args),
        "conditions": {},
    }
    write_results(name, results)
    for condition in args.conditions:
        started = time.perf_counter()
        # Full runs of both modes share a report: the mode is in the condition's name.
        key = condition + ("-query-only" if args.all_fusions and not args.symmetric else "")
        key += args.tag
        results["conditions"][key] = _condition(condition, args, folder, test, dev, train_part)
        results["conditions"][key]["query_only"] = not args.symmetric
        results["conditions"][key]["epochs"] = args.epochs
        results["conditions"][key]["learning_rate"] = args.learning_rate
        results["conditions"][key]["load_average_end"] = list(os.getloadavg())
        results["conditions"][key]["wall_seconds"] = round(time.perf_counter() - started)
        write_results(name, results)
        print(key, json.dumps(results["conditions"][key]), flush=True)


def _split(dataset: Any, args: Any) -> tuple[Any, Any]:
    """The split's queries cut (seeded) into a training part and a held-out dev part.

    Supervised conditions train on the training part only; the keep decision and the fusion
    tuning use the dev part, which the encoder never saw (tuning on the queries it trained
    on would flatter the dense leg). The test split is never read for either.
    """
    import random

    query_ids = sorted(dataset.queries)
    held = set(
        random.Random(args.split_seed).sample(query_ids, round(len(query_ids) * args.dev_fraction))
    )

    def part(kept: list[str]) -> Any:
        return dataset._replace(
            queries={query_id: dataset.queries[query_id] for query_id in kept},
            qrels={query_id: dataset.qrels[query_id] for query_id in kept},
        )

    return (
        part([query_id for query_id in query_ids if query_id not in held]),
        part([query_id for query_id in query_ids if query_id in held]),
    )


def _evaluate(
    index: Any, test: Any, dev: Any, modes: Any, dev_modes: Any, args: Any
) -> dict[str, Any]:
    """Test and dev scores per mode; with ``--all-fusions`` also the fusion tuned on dev."""
    scores: dict[str, Any] = {
        "test": _scores(index, test, modes),
        "dev": _scores(index, dev, dev_modes),
    }
    if args.all_fusions:
        started = time.perf_counter()
        tuned = index.tune(dev.queries, dev.qrels)
        scores["tuned"] = {
            "setting": tuned.best.describe(),
            "kept": tuned.tuned.kept,
            "dev_cv": round(tuned.estimate, 4),
            "dev_in_sample": round(tuned.in_sample, 4),
            "dev_legs_cv": {leg: round(value, 4) for leg, value in tuned.leg_estimates.items()},
            "warnings": list(tuned.warnings),
            "test": _scores(index, test, (("hybrid", "tuned"),))["hybrid-tuned"],
            "seconds": round(time.perf_counter() - started),
        }
        index.tuned_fusion = None
    return scores


def _sample(dataset: Any, count: int) -> Any:
    """A seeded sample of ``count`` of the dataset's queries (the CPU cap on dev scoring)."""
    import random

    if len(dataset.queries) <= count:
        return dataset
    kept = sorted(random.Random(0).sample(sorted(dataset.queries), count))
    return dataset._replace(
        queries={query_id: dataset.queries[query_id] for query_id in kept},
        qrels={query_id: dataset.qrels[query_id] for query_id in kept},
    )


class _MemoisedQueries:
    """The index's query encoder, encoding each query text once for all the modes scored."""

    def __init__(self, encoder: Any) -> None:
        self.encoder = encoder
        self.identity = encoder.identity
        self.vectors: dict[str, Any] = {}

    def encode_queries(self, texts: Any) -> Any:
        import numpy as np

        missing = [text for text in dict.fromkeys(texts) if text not in self.vectors]
        if missing:
            self.vectors.update(zip(missing, self.encoder.encode_queries(missing), strict=True))
        return np.stack([self.vectors[text] for text in texts])


def _memoised(index: Any) -> Any:
    index.encoder = _MemoisedQueries(index.encoder)
    return index


def _scores(index: Any, dataset: Any, modes: Any = MODES) -> dict[str, float]:
    from hybridsearch.eval.runs import evaluate_index

    return {
        f"{mode}-{fusion}" if mode == "hybrid" else mode: round(
            evaluate_index(index, dataset, mode=mode, metrics=["ndcg@10"], **_fusion(fusion))[
                "ndcg@10"
            ],
            4,
        )
        for mode, fusion in modes
    }


def _fusion(name: str) -> dict[str, str]:
    """Search options of a mode's fusion name (``tuned``: none, the index's tuned default)."""
    if name == "tuned":
        return {}
    if name == "convex-zscore":
        return {"fusion": "convex", "normalization": "zscore"}
    return {"fusion": name}


def _condition(
    condition: str, args: Any, folder: Path, test: Any, dev: Any, train_part: Any
) -> dict[str, Any]:
    from hybridsearch import HybridIndex
    from hybridsearch.index.adaptation import adapt_index

    work = Path(tempfile.mkdtemp(prefix=f"adapt-{condition}-", dir=REPO_ROOT / "indexes"))
    pairs_file, sources = None, ("title",)
    if condition in ("title", "sentence"):
        sources = (condition,)
    else:
        pairs_file = _supervised_pairs(folder, test, work / "pairs.jsonl", condition, train_part)
    report = adapt_index(
        args.index,
        output=work / "index",
        model_output=work / "model",
        pairs_file=pairs_file,
        sources=sources,
        max_pairs=args.max_pairs,
        settings={
            "query_only": not args.symmetric,
            "max_seq_length": args.max_seq_length,
            "epochs": args.epochs,
            "learning_rate": args.learning_rate,
        },
        progress=True,
    )
    adapted = _memoised(HybridIndex.load(work / "index"))
    outcome: dict[str, Any] = {
        "pairs": report.pairs,
        "hard_negatives": report.hard_negatives,
        "steps": report.steps,
        "final_loss": round(report.final_loss, 4),
        "seconds": {key: round(value) for key, value in report.seconds.items()},
    }
    if args.all_fusions:
        # Every condition is checked on the held-out dev part (supervised ones too: with
        # --dev-fraction they never trained on it).
        outcome.update(_evaluate(adapted, test, dev, ALL_MODES, ALL_MODES, args))
    else:
        outcome["test"] = _scores(adapted, test)
        if pairs_file is None or train_part is not None:
            outcome["dev"] = _scores(adapted, dev, DEV_MODES)
    outcome["model"] = str(work / "model")
    return outcome


def _supervised_pairs(
    folder: Path, test: Any, path: Path, condition: str, train_part: Any = None
) -> Path:
    """The train split's (query, judged document) pairs as a finetune pairs file.

    With ``train_part`` (``--dev-fraction``) only its queries' pairs: the dev part is held out.
    """
    from hybridsearch.eval.beir import load_beir

    train = train_part if train_part is not None else load_beir(folder, split="train")
    judged_in_test = {doc_id for judged in test.qrels.values() for doc_id in judged}
    with path.open("w", encoding="utf-8") as pairs:
        for query_id, judged in train.qrels.items():
            for doc_id, grade in judged.items():
                if grade <= 0:
                    continue
                if condition == "supervised-deoverlap" and doc_id in judged_in_test:
                    continue
                record = {"query": train.queries[query_id], "doc_id": doc_id}
                pairs.write(json.dumps(record) + "\n")
    return path


if __name__ == "__main__":
    main()
