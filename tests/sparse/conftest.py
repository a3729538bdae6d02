"""Fixtures of the sparse tests."""

from __future__ import annotations

import pytest

from tests.sparse.corpora import make_corpus


@pytest.fixture(scope="session")
def generated() -> tuple[list[list[str]], list[list[str]]]:
    """2,000 random passages (some empty) and 200 queries (repeats, unknown terms)."""
    return make_corpus()
