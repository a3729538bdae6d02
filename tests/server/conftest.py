"""Fixtures of the server tests: a tiny index saved once, a fresh writable copy per test, and
an in-process client of an app serving it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

ANIMALS = {
    "cat": ("Cats are small domestic felines that purr, hunt mice and sleep.", {"year": 2019}),
    "dog": ("Dogs are loyal domestic canines that bark, fetch sticks and guard.", {"year": 2020}),
    "owl": ("Owls are nocturnal birds of prey with silent flight, night vision.", {"year": 2021}),
    "bee": ("Bees are flying insects that collect nectar and make honey in hives.", {"year": 2022}),
    "frog": ("Frogs are amphibians that lay eggs in ponds; tadpoles grow legs.", {"year": 2023}),
}
#: A key long enough for :func:`hybridsearch.server.security.read_api_key`.
KEY = "k" * 8 + "0123456789abcdef"


@pytest.fixture(scope="session")
def saved_index(tmp_path_factory, encoder) -> Path:
    """The animals index, built with the session's encoder and saved (one commit)."""
    from hybridsearch import Document, HybridIndex

    documents = [Document(i, text, metadata=meta) for i, (text, meta) in ANIMALS.items()]
    path = tmp_path_factory.mktemp("server") / "animals"
    HybridIndex.build(documents, model=encoder).save(path)
    return path


@pytest.fixture
def index_path(saved_index, tmp_path) -> Path:
    """A copy of :func:`saved_index` a test may change."""
    return Path(shutil.copytree(saved_index, tmp_path / "animals"))


@pytest.fixture
def index(index_path, encoder):
    """The copy opened for writing (its lock released after the test)."""
    from hybridsearch import HybridIndex

    opened = HybridIndex.open(index_path, model=encoder)
    yield opened
    opened.close()


@pytest.fixture
def client(index):
    """An in-process client of an app serving :func:`index` (no key: every endpoint open)."""
    from fastapi.testclient import TestClient

    from hybridsearch.server import create_app

    with TestClient(create_app(index)) as test_client:
        yield test_client
