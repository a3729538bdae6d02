"""Aggregation: each document once, at its best passage's position."""

from __future__ import annotations

import numpy as np

from hybridsearch.search.aggregation import best_passage_per_document, to_unit


def test_each_document_keeps_its_first_passage_in_fused_order():
    fused = [(7, 0.9), (3, 0.8), (8, 0.7), (1, 0.6), (4, 0.5)]
    rows = np.array([2, 0, 2, 1, 0])  # passages 7 and 8 share document 2, 3 and 4 document 0
    assert best_passage_per_document(fused, rows) == [(7, 0.9), (3, 0.8), (1, 0.6)]


def test_passages_unit_keeps_everything_and_empty_stays_empty():
    fused = [(1, 1.0), (2, 1.0)]
    assert to_unit(fused, "passages", np.array([0, 0])) == fused
    assert to_unit([], "documents", np.array([], np.int64)) == []
