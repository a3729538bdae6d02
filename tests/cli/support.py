"""What the CLI tests share: tiny corpora, running the command (in a fresh process, or in this
one), and the one-line error check."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

ANIMALS = {
    "cat": "Cats are small domestic felines that purr, hunt mice and sleep most of the day.",
    "dog": "Dogs are loyal domestic canines that bark, fetch sticks and guard the house.",
    "owl": "Owls are nocturnal birds of prey with silent flight and excellent night vision.",
    "shark": "Sharks are cartilaginous fish with rows of sharp teeth that hunt in the ocean.",
    "bee": "Bees are flying insects that collect nectar and pollen and make honey in hives.",
    "frog": "Frogs are amphibians that lay eggs in ponds; tadpoles grow legs and lose tails.",
}
#: Documents with metadata of every type (number, string, bool, list of strings), for filters.
TAGGED = [
    ("heron", "Herons are wading birds that stand still in shallow water and spear fish.",
     {"year": 2018, "lang": "en", "reviewed": True, "tags": ["birds", "water"]}),
    ("trout", "Trout are freshwater fish that hunt insects in cold streams and rivers.",
     {"year": 2020, "lang": "en", "reviewed": False, "tags": ["fish", "water"]}),
    ("eagle", "Eagles are birds of prey that hunt fish and rabbits from great heights.",
     {"year": 2021, "lang": "de", "reviewed": True, "tags": ["birds"]}),
    ("otter", "Otters are playful mammals that hunt fish in rivers and hold hands asleep.",
     {"year": 2023, "lang": "en", "reviewed": True}),
    ("mole", "Moles are small mammals that dig tunnels and eat earthworms underground.",
     {"lang": "fr", "reviewed": False, "tags": ["mammals"]}),
]  # fmt: skip
QUERIES = {
    "q1": ("which animal makes honey", "bee"),
    "q2": ("birds that hunt at night", "owl"),
    "q3": ("tadpoles turning into adults", "frog"),
}


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """``python -m hybridsearch ARGS`` in ``cwd``, offline and without colors."""
    return subprocess.run(
        [sys.executable, "-m", "hybridsearch", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "NO_COLOR": "1"},
    )


def run_here(capsys: Any, *args: str) -> subprocess.CompletedProcess:
    """``hybridsearch ARGS`` run in this process by ``main``, as :func:`run_cli` reports it.

    No interpreter, torch import and model load of its own: seconds less per call on two
    cores. Tests of the process itself (the entry point, progress bars, exit codes) keep
    :func:`run_cli`.
    """
    from hybridsearch.cli.main import main

    capsys.readouterr()
    status = main(list(args))
    captured = capsys.readouterr()
    return subprocess.CompletedProcess(["hybridsearch", *args], status, captured.out, captured.err)


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 1 and a last stderr line ``error: ...`` holding each fragment, no traceback."""
    assert_failed(result.returncode, result.stderr, *fragments)


def assert_failed(status: int, stderr: str, *fragments: str) -> None:
    """As :func:`assert_one_line_error`, for ``main([...])`` run in this process."""
    assert status == 1, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[-1], lines[-1]


def write_jsonl(path: Path, records: Iterable[tuple[str, str, Mapping[str, Any]]]) -> Path:
    """A JSONL corpus of ``(id, text, metadata)`` records at ``path``."""
    with open(path, "w", encoding="utf-8") as corpus:
        for doc_id, text, metadata in records:
            corpus.write(json.dumps({"id": doc_id, "text": text, "metadata": metadata}) + "\n")
    return path


def search_json(capsys: Any, index: Path, query: str, *options: str) -> dict[str, Any]:
    """``hybridsearch search --json`` run in this process: the parsed payload."""
    from hybridsearch.cli.main import main

    capsys.readouterr()
    status = main(["search", "--index", str(index), query, "--json", *options])
    captured = capsys.readouterr()
    assert status == 0, captured.err
    return json.loads(captured.out)


def hit_ids(payload: Mapping[str, Any]) -> list[str]:
    """The document ids of a ``search --json`` payload, best first."""
    return [hit["doc_id"] for hit in payload["hits"]]


def needs_open_or_build_option(name: str) -> pytest.MarkDecorator:
    """Skip until :meth:`HybridIndex.open_or_build` takes the keyword ``name``.

    ``--batch-size`` and ``demo --rebuild`` need it; the CLI passes the keyword only when the
    option is given, so everything else runs without it.
    """
    from hybridsearch import HybridIndex

    parameters = inspect.signature(HybridIndex.open_or_build).parameters
    return pytest.mark.skipif(
        name not in parameters, reason=f"HybridIndex.open_or_build has no {name!r} keyword yet"
    )


def needs_open_option(name: str) -> pytest.MarkDecorator:
    """Skip until :meth:`HybridIndex.open` takes the keyword ``name`` (``add --batch-size``)."""
    from hybridsearch import HybridIndex

    parameters = inspect.signature(HybridIndex.open).parameters
    return pytest.mark.skipif(
        name not in parameters, reason=f"HybridIndex.open has no {name!r} keyword yet"
    )
