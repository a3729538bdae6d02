"""A process killed with SIGKILL in the middle of saving over an index leaves the old one."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from hybridsearch.corpus.documents import Document
from hybridsearch.index.hybrid_index import HybridIndex

# The child opens the source index, adds a document (so its saves differ from the target),
# then saves over the target again and again; it prints a line when it starts saving.
CHILD = r"""
import sys
from hybridsearch.corpus.documents import Document
from hybridsearch.index.hybrid_index import HybridIndex

source, target = sys.argv[1], sys.argv[2]
index = HybridIndex.open(source)
index.add([Document(id="extra-1", text="x")])
print("ready", flush=True)
while True:
    index.save(target)
"""


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_sigkill_during_save_keeps_the_old_index(encoder, tmp_path):
    documents = [
        Document(id=f"doc-{number}", text=f"document {number} about topic {number % 7} " * 40)
        for number in range(60)
    ]
    index = HybridIndex.build(documents, model=encoder)
    source = tmp_path / "source"
    target = tmp_path / "target"
    index.save(source)
    index.save(target)
    expected = [hit.doc_id for hit in index.search("topic 3", k=5)]

    interrupted_saves = 0
    for delay in (0.05, 0.2, 0.35, 0.5, 0.7, 0.9):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(source), str(target)],
            stdout=subprocess.PIPE,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        assert child.stdout.readline().strip() == b"ready"
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        # Staging directories left behind show the kill landed in the middle of a save.
        # (a staging folder, or the previous index not yet removed after the renames).
        leftovers = [
            p for p in tmp_path.iterdir() if p.name.startswith((".target.saving-", ".target.prev"))
        ]
        interrupted_saves += bool(leftovers)

        # Whole saves only: the original 60 documents, or those and the child's extra one.
        loaded = HybridIndex.load(target, model=encoder, verify_checksums=True)
        extras = loaded.num_documents - 60
        assert extras >= 0
        assert {d.id for d in loaded.documents()} == {d.id for d in documents} | {
            f"extra-{n}" for n in range(1, extras + 1)
        }
        assert [hit.doc_id for hit in loaded.search("topic 3", k=5)] == expected
    assert interrupted_saves >= 1, "no kill landed mid-save; the test proved nothing"
