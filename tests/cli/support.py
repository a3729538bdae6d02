"""What the CLI tests share: a tiny corpus, running the command, and the one-line error check."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from pathlib import Path

import pytest

ANIMALS = {
    "cat": "Cats are small domestic felines that purr, hunt mice and sleep most of the day.",
    "dog": "Dogs are loyal domestic canines that bark, fetch sticks and guard the house.",
    "owl": "Owls are nocturnal birds of prey with silent flight and excellent night vision.",
    "shark": "Sharks are cartilaginous fish with rows of sharp teeth that hunt in the ocean.",
    "bee": "Bees are flying insects that collect nectar and pollen and make honey in hives.",
    "frog": "Frogs are amphibians that lay eggs in ponds; tadpoles grow legs and lose tails.",
}
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


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> None:
    """Exit status 1 and a last stderr line ``error: ...`` holding each fragment, no traceback."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines[-1].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[-1]


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
